"""``bootflow-conductor``: drives the machines; serves RPC on
``transport_url``."""

from bootflow.cmd import aio
from bootflow.common import rpc
from bootflow.common import service
from bootflow.conductor import service as conductor_service


def main(argv=None):
    service.prepare(argv)
    rpc.init()
    conductor = conductor_service.ConductorService()
    conductor.start()
    service.tune_gc()

    def stop():
        conductor.stop()
        rpc.cleanup()

    aio.run_until_signalled(stop)


if __name__ == '__main__':
    main()
