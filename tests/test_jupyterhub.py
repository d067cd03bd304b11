"""deploy/jupyterhub/jupyterhub_config.py really serves a class: the hub on 127.0.0.1 with
configurable-http-proxy, two students log in, get servers, run code that imports the course (a small
cell rather than a whole lesson, to keep CI short) in a kernel reached through the hub, open the panel
through the hub, and everything stops cleanly. Marked slow; CI runs it (.ci/run installs the proxy).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from pneumolab._browser import free_port
from pneumolab.data import manifest as data

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PASSWORD = "workshop-password"
CODE = ("import pneumolab, pneumolab.data.manifest as d, pneumolab.inference.serving\n"
        "print('course', pneumolab.__version__, len(d.build_manifest(None, check=False)))")

pytestmark = pytest.mark.slow


def proxy_command() -> str | None:
    return os.environ.get("PNEUMOLAB_CHP") or shutil.which("configurable-http-proxy")


@pytest.fixture
def hub(tmp_path, films):
    proxy = proxy_command()
    if proxy is None:
        message = "configurable-http-proxy not found (npm install -g configurable-http-proxy)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port, hub_port, api_port = free_port(), free_port(), free_port()
    env = os.environ | {
        "HOME": str(tmp_path), "PNEUMOLAB_HUB_URL": f"http://127.0.0.1:{port}",
        "PNEUMOLAB_HUB_PASSWORD": PASSWORD, "PNEUMOLAB_HUB_SPAWNER": "simple",
        "PNEUMOLAB_HUB_HOMES": str(tmp_path / "homes"), "PNEUMOLAB_QUICK": "1",
        "PNEUMOLAB_DATA": str(films),
    }
    command = [str(Path(sys.executable).with_name("jupyterhub")), "-f", str(CONFIG),
               f"--JupyterHub.hub_port={hub_port}", f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}",
               f"--ConfigurableHTTPProxy.command={proxy}"]
    log = tmp_path / "hub.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"{url}/hub/api/", timeout=5).ok:  # the hub's API root starts no kernel
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"the hub did not answer within 120 s:\n{log.read_text()}")
        yield url, process, log
    finally:
        started = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        for child in started:
            if child.is_running():
                child.kill()


def log_in(url: str, name: str) -> tuple[requests.Session, str]:
    """Log in through the hub's form as a student does; return the session and an API token."""
    session = requests.Session()
    session.get(f"{url}/hub/login", timeout=30)
    xsrf = session.cookies.get("_xsrf")
    answer = session.post(f"{url}/hub/login?next=", data=dict(username=name, password=PASSWORD, _xsrf=xsrf),
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text[:500]
    session.get(f"{url}/hub/home", timeout=30)  # logged in: the hub issues this user's XSRF cookie
    xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path == "/hub/")
    token = session.post(f"{url}/hub/api/users/{name}/tokens", headers={"X-XSRFToken": xsrf},
                         json={"note": "test"}, timeout=30)
    assert token.ok, token.text
    return session, token.json()["token"]


def start_server(url: str, name: str, token: str) -> None:
    headers = {"Authorization": f"token {token}"}
    requests.post(f"{url}/hub/api/users/{name}/server", headers=headers, timeout=30)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        user = requests.get(f"{url}/hub/api/users/{name}", headers=headers, timeout=30).json()
        if user.get("servers", {}).get("", {}).get("ready"):
            return
        time.sleep(1)
    pytest.fail(f"{name}'s server did not start within 180 s")


def run_in_kernel(url: str, name: str, token: str, code: str) -> str:
    """Start a kernel on the student's server through the hub, run ``code``, return its printed output."""
    import asyncio

    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{url}/user/{name}/api/kernels", headers=headers, json={}, timeout=60)
    assert kernel.ok, kernel.text
    kernel_id = kernel.json()["id"]

    async def execute() -> str:
        from tornado.httpclient import HTTPRequest

        request = HTTPRequest(url.replace("http", "ws") + f"/user/{name}/api/kernels/{kernel_id}/channels",
                              headers=headers)
        socket = await websocket_connect(request)
        msg_id = uuid.uuid4().hex
        await socket.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name,
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        output = []
        while True:
            message = json.loads(await asyncio.wait_for(socket.read_message(), timeout=240))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            if kind == "stream":
                output.append(message["content"]["text"])
            elif kind == "error":
                output.append("\n".join(message["content"]["traceback"]))
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                socket.close()
                return "".join(output)

    try:
        return asyncio.run(execute())
    finally:
        requests.delete(f"{url}/user/{name}/api/kernels/{kernel_id}", headers=headers, timeout=60)


def test_two_students_use_the_course_and_the_panel_through_the_hub(hub, films):
    url, process, log = hub
    for name in ("ada", "grace"):
        _, token = log_in(url, name)
        start_server(url, name, token)
        output = run_in_kernel(url, name, token, CODE)
        assert output.startswith("course 0.1.0"), output
        # the data set the hub was given (the full set, or the embedded sample), read in place
        assert int(output.split()[-1]) == len(data.build_manifest(films, check=False))
        panel = requests.get(f"{url}/user/{name}/voila/render/notebooks/panel.ipynb",
                             headers={"Authorization": f"token {token}"}, timeout=240)
        assert panel.ok and "what does the model say about this chest X-ray" in panel.text
        stopped = requests.delete(f"{url}/hub/api/users/{name}/server",
                                  headers={"Authorization": f"token {token}"}, timeout=60)
        assert stopped.status_code in (202, 204)
    hub_process = psutil.Process(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert not hub_process.is_running() or hub_process.status() == psutil.STATUS_ZOMBIE
