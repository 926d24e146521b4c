import abc

from bootflow.drivers import base


class DeployInterface(base.BaseInterface):
    interface_type = 'deploy'

    @abc.abstractmethod
    def deploy(self, task):
        """Write the instance; return None when done or ``DEPLOYWAIT`` to
        wait for the ramdisk."""

    @abc.abstractmethod
    def tear_down(self, task):
        """Undeploy; returns ``states.DELETED``."""

    def prepare(self, task):
        """Get the node ready for :meth:`deploy` (boot config, networks)."""

    def clean_up(self, task):
        """Remove whatever :meth:`prepare` and :meth:`deploy` left behind."""

    def take_over(self, task):
        """Adopt a node whose previous conductor went away."""

    def prepare_cleaning(self, task):
        """Boot whatever cleaning needs; None or ``CLEANWAIT``."""

    def tear_down_cleaning(self, task):
        """Undo :meth:`prepare_cleaning`."""
