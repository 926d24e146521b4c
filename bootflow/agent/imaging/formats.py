"""What an image really is, judged from its first bytes.

The declared ``disk_format`` comes from whoever uploaded the image and is
not to be trusted: a qcow2 written raw leaves an unbootable disk, and a
qcow2 handed to qemu-img may point at other files on the host (a backing
file, an external data file: CVE-2024-44082), which qemu-img would read
and copy into the node's disk. Both the conductor (before it converts or
splits an image) and the agent (before it writes one) look at the bytes
themselves, with this module, so the two can never disagree.
"""

import struct

from bootflow.agent.imaging import ImageError

# Enough for every signature below (the ISO 9660 volume descriptor is at
# 32 KiB, a VDI signature at 0x40, a 4K-sector GPT header at 4 KiB).
HEAD_BYTES = 65536

RAW_KINDS = frozenset({'raw', 'gpt', 'mbr', 'iso'})
SUPPORTED = ('raw', 'qcow2')

QCOW2_MAGIC = b'QFI\xfb'
QCOW2_V2_HEADER = 72
QCOW2_V3_HEADER = 104
# Incompatible feature bits (qcow2 spec): 0 dirty, 1 corrupt, 2 external
# data file, 3 compression type, 4 extended L2 entries.
QCOW2_CORRUPT = 1 << 1
QCOW2_DATA_FILE = 1 << 2
QCOW2_KNOWN_FEATURES = 0x1f
# qemu accepts clusters of 512 B to 2 MiB.
QCOW2_CLUSTER_BITS = range(9, 22)

# (format, offset, magic): container formats, checked before anything
# that a container could also contain by accident.
_CONTAINERS = (
    ('qcow2', 0, QCOW2_MAGIC),
    ('qed', 0, b'QED\x00'),
    ('vmdk', 0, b'KDMV'),
    ('vmdk', 0, b'# Disk DescriptorFile'),
    ('vhdx', 0, b'vhdxfile'),
    ('vdi', 0x40, struct.pack('<I', 0xbeda107f)),
    ('vpc', 0, b'conectix'),
    ('luks', 0, b'LUKS\xba\xbe'),
)


def _at(head, offset, magic):
    return head[offset:offset + len(magic)] == magic


def detect(head):
    """The format of an image whose first bytes (ideally HEAD_BYTES of
    them; fewer for a tiny image) are ``head``: a container ('qcow2',
    'qed', 'vmdk', 'vhdx', 'vdi', 'vpc', 'luks'), a block manifest
    ('bootflow-blocks'), or raw bytes, told apart as 'iso', 'gpt', 'mbr'
    or plain 'raw'."""
    head = bytes(head[:HEAD_BYTES])
    for name, offset, magic in _CONTAINERS:
        if _at(head, offset, magic):
            return name
    if _is_manifest(head):
        return 'bootflow-blocks'
    if _at(head, 0x8001, b'CD001'):
        return 'iso'
    if _at(head, 512, b'EFI PART') or _at(head, 4096, b'EFI PART'):
        return 'gpt'
    if _at(head, 510, b'\x55\xaa'):
        return 'mbr'
    return 'raw'


def _is_manifest(head):
    # Imported here: the manifest module may import this one.
    try:
        from bootflow.agent.imaging import manifest
    except ImportError:     # written in parallel; gone once it exists
        text = head.lstrip()
        return text[:1] == b'{' and b'"bootflow-blocks/' in text[:4096]
    return manifest.is_manifest(head)


def check_declared(declared, detected):
    """Refuse an image whose bytes are not what its disk_format says."""
    if declared not in SUPPORTED:
        raise ImageError('unsupported disk_format %r (supported: %s); '
                         'nothing was written'
                         % (declared, ', '.join(SUPPORTED)))
    ok = (detected in RAW_KINDS if declared == 'raw'
          else detected == declared)
    if not ok:
        raise ImageError('image format mismatch: declared %s but the '
                         'image is %s; nothing was written (fix the '
                         'image\'s disk_format or upload the right file)'
                         % (declared, detected))


def qcow2_header(head):
    """The fields of a qcow2 header that decide whether it is safe."""
    head = bytes(head)
    if not _at(head, 0, QCOW2_MAGIC):
        raise ImageError('not a qcow2 image (bad magic)')
    if len(head) < QCOW2_V2_HEADER:
        raise ImageError('qcow2 header truncated (%d bytes)' % len(head))
    (version, backing_offset, backing_size, cluster_bits, virtual_size,
     crypt_method) = struct.unpack_from('>IQIIQI', head, 4)
    info = {'version': version, 'virtual_size': virtual_size,
            'cluster_bits': cluster_bits,
            'backing_file_offset': backing_offset,
            'backing_file_size': backing_size,
            'crypt_method': crypt_method, 'incompatible_features': 0,
            'has_external_data_file': False,
            'header_length': QCOW2_V2_HEADER}
    if version >= 3:
        if len(head) < QCOW2_V3_HEADER:
            raise ImageError('qcow2 v3 header truncated (%d bytes)'
                             % len(head))
        features, = struct.unpack_from('>Q', head, 72)
        length, = struct.unpack_from('>I', head, 100)
        info.update(incompatible_features=features, header_length=length,
                    has_external_data_file=bool(features
                                                & QCOW2_DATA_FILE))
    return info


def check_qcow2(head):
    """Refuse a qcow2 that reads anything but itself, or that qemu-img
    would have to guess about; returns its header."""
    info = qcow2_header(head)
    why = None
    if info['version'] not in (2, 3):
        why = 'version %d (only 2 and 3 are supported)' % info['version']
    elif info['cluster_bits'] not in QCOW2_CLUSTER_BITS:
        why = 'bad cluster size (2^%d bytes)' % info['cluster_bits']
    elif info['backing_file_offset'] or info['backing_file_size']:
        why = ('it names a backing file, which would be read from the '
               'host converting it')
    elif info['has_external_data_file']:
        why = ('it uses an external data file, which would be read from '
               'the host converting it')
    elif info['crypt_method']:
        why = 'it is encrypted (crypt method %d)' % info['crypt_method']
    elif info['incompatible_features'] & QCOW2_CORRUPT:
        why = 'it is marked corrupt'
    elif info['incompatible_features'] & ~QCOW2_KNOWN_FEATURES:
        why = ('it uses unknown incompatible features (0x%x)'
               % info['incompatible_features'])
    elif info['version'] == 3 and info['header_length'] < QCOW2_V3_HEADER:
        why = 'bad header length %d' % info['header_length']
    if why:
        raise ImageError('unsafe qcow2 image refused: %s; nothing was '
                         'written' % why)
    return info
