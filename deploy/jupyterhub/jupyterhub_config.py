"""JupyterHub for a PneumoLab class on one shared machine (JupyterHub's own parts, nothing home-made).

Run as root from the folder that should hold the hub's database and cookie secret:

    PNEUMOLAB_HUB_PASSWORD=... jupyterhub -f /opt/pneumolab/deploy/jupyterhub/jupyterhub_config.py

- Log-in: JupyterHub's dummy authenticator with one workshop password
  (``$PNEUMOLAB_HUB_PASSWORD``): any name logs in and gets a server of its own.
  For a class longer than a workshop, swap in a real authenticator (see docs/jupyterhub.md).
- The course is installed once, for everyone: the servers run from the same
  environment as the hub (the ``.venv`` of the checkout, ``make install``); each
  student gets a copy of the notebooks on first start, and all read the one
  data set (``$PNEUMOLAB_DATA``).
- Limits per student: with systemd (the default, ``$PNEUMOLAB_HUB_SPAWNER=systemd``,
  needs ``pip install jupyterhub-systemdspawner``) each server is a transient
  systemd unit with a dynamic user, ``MemoryMax`` and ``CPUQuota``. The
  ``simple`` spawner runs servers as the hub's user without limits: for a test
  on one's own machine only.
- Idle culling: ``jupyterhub-idle-culler`` stops servers idle for an hour; each
  server stops its own kernels idle for 30 minutes.

Settings come from the environment so that the same file serves the class and the test
(tests/test_jupyterhub.py): PNEUMOLAB_HUB_URL (default http://0.0.0.0:8000),
PNEUMOLAB_HUB_PASSWORD, PNEUMOLAB_HUB_SPAWNER (systemd | simple), PNEUMOLAB_HUB_HOMES
(simple spawner: where students' folders go), PNEUMOLAB_HUB_MEM (default 3G),
PNEUMOLAB_HUB_CPU (cores, default 1), PNEUMOLAB_HUB_IDLE (seconds, default 3600),
PNEUMOLAB_DATA, PNEUMOLAB_QUICK.
"""

import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides it)

#: The checkout the course was installed from (this file is in deploy/jupyterhub/ of it).
COURSE = Path(__file__).resolve().parents[2]
#: The environment everyone shares: the one running this hub.
BIN = Path(sys.executable).parent
IDLE_S = int(os.environ.get("PNEUMOLAB_HUB_IDLE", "3600"))

c.JupyterHub.bind_url = os.environ.get("PNEUMOLAB_HUB_URL", "http://0.0.0.0:8000")
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ["PNEUMOLAB_HUB_PASSWORD"]  # no password, no hub
c.Authenticator.allow_all = True  # a workshop: whoever has the password

c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/notebooks"
c.Spawner.mem_limit = os.environ.get("PNEUMOLAB_HUB_MEM", "3G")  # a lesson notebook needs ~1.5-2.5 GB
c.Spawner.cpu_limit = float(os.environ.get("PNEUMOLAB_HUB_CPU", "1"))
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    key: os.environ[key] for key in ("PNEUMOLAB_DATA", "PNEUMOLAB_QUICK") if key in os.environ
} | {"MPLBACKEND": "Agg", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
# Each server stops its own kernels after 30 idle minutes (the hub's culler stops whole servers).
c.Spawner.args = ["--MappingKernelManager.cull_idle_timeout=1800",
                  "--MappingKernelManager.cull_interval=300"]

if os.environ.get("PNEUMOLAB_HUB_SPAWNER", "systemd") == "systemd":
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.dynamic_users = True  # no accounts to create: systemd makes one per student
    c.SystemdSpawner.isolate_tmp = True
    c.SystemdSpawner.isolate_devices = True
    c.SystemdSpawner.disable_user_sudo = True
    c.SystemdSpawner.readonly_paths = [str(COURSE)]
    STUDENT_HOME = "/var/lib/private/{username}"
else:  # test only: servers run as the hub's user, in folders under PNEUMOLAB_HUB_HOMES, without limits
    c.JupyterHub.spawner_class = "simple"
    STUDENT_HOME = os.path.join(os.environ.get("PNEUMOLAB_HUB_HOMES", "/tmp/pneumolab-hub"), "{username}")
    c.SimpleLocalProcessSpawner.home_dir_template = STUDENT_HOME
    if os.geteuid() == 0:  # a CI container runs everything as root; Jupyter refuses that unless told
        c.Spawner.args.append("--allow-root")


def give_the_course(spawner) -> None:
    """First start of a student's server: a copy of the notebooks to work in (the package is shared)."""
    home = Path(STUDENT_HOME.format(username=spawner.user.name))
    target = home / "notebooks"
    if not target.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(COURSE / "notebooks", target)


c.Spawner.pre_spawn_hook = give_the_course

# Servers idle for IDLE_S seconds are stopped by JupyterHub's own culler service.
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_S}"],
}]
