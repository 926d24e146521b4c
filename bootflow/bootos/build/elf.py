"""Just enough ELF reading for the builder, in the standard library.

Two questions need answers without running the target's tools: what a
kernel module declares in its ``.modinfo`` section (name, depends,
softdep, alias), and which shared libraries a program or library needs
(``DT_NEEDED``), so the rootfs can drop libraries nothing uses.
"""

import struct

MAGIC = b'\x7fELF'
SHT_DYNAMIC = 6
DT_NEEDED = 1


def is_elf(data):
    return data[:4] == MAGIC


def _sections(data):
    """[(name, type, offset, size, link)] of every section header."""
    if not is_elf(data) or len(data) < 64:
        raise ValueError('not an ELF file')
    is64 = data[4] == 2
    endian = '<' if data[5] == 1 else '>'
    if is64:
        shoff, = struct.unpack_from(endian + 'Q', data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + 'HHH',
                                                        data, 0x3A)
        fmt = endian + 'IIQQQQIIQQ'
    else:
        shoff, = struct.unpack_from(endian + 'I', data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(endian + 'HHH',
                                                        data, 0x2E)
        fmt = endian + 'IIIIIIIIII'
    headers = []
    for i in range(shnum):
        fields = struct.unpack_from(fmt, data, shoff + i * shentsize)
        name, stype, _, _, offset, size, link = fields[:7]
        headers.append([name, stype, offset, size, link])
    if shstrndx < len(headers):
        strtab = headers[shstrndx]
        names = data[strtab[2]:strtab[2] + strtab[3]]
        for h in headers:
            end = names.find(b'\0', h[0])
            h[0] = names[h[0]:end].decode('ascii', 'replace')
    return headers, is64, endian


def modinfo(data):
    """{key: [values]} from a kernel module's .modinfo section."""
    headers, _, _ = _sections(data)
    for name, _, offset, size, _ in headers:
        if name == '.modinfo':
            info = {}
            for item in data[offset:offset + size].split(b'\0'):
                key, sep, value = item.decode('utf-8',
                                              'replace').partition('=')
                if sep:
                    info.setdefault(key, []).append(value)
            return info
    return {}


def needed(data):
    """DT_NEEDED sonames of a dynamically linked ELF file, in order."""
    headers, is64, endian = _sections(data)
    fmt = endian + ('qQ' if is64 else 'iI')
    step = struct.calcsize(fmt)
    result = []
    for _, stype, offset, size, link in headers:
        if stype != SHT_DYNAMIC or link >= len(headers):
            continue
        strings = headers[link]
        for pos in range(offset, offset + size - step + 1, step):
            tag, value = struct.unpack_from(fmt, data, pos)
            if tag == 0:
                break
            if tag == DT_NEEDED:
                start = strings[2] + value
                end = data.find(b'\0', start)
                result.append(data[start:end].decode('ascii', 'replace'))
    return result
