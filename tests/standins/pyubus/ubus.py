"""Stand-in for python3-ubus 0.1.1 (the OpenWrt 22.03 feed's binding), for `ddns-agent` run in a subprocess.

Put this directory on PYTHONPATH. Like the real module: `connect(socket_path='/var/run/ubus.sock')`
(the pre-22.03 default) raises OSError (IOError) "Failed to connect to the ubus socket '<path>'" unless ubusd
listens there; `call` before `connect` raises RuntimeError; an unknown object raises RuntimeError
"Object '<name>' was not found.". ubusd "listens" on $UBUS_STANDIN_SOCKET (default
/var/run/ubus/ubus.sock, 22.03's path; "none": nowhere) and serves $UBUS_STANDIN_DIR/<name>.json.
UBUS_STANDIN_LOG, when set, gets one line per connect and call.
"""
import json
import os

_socket = None


def _log(line: str) -> None:
    path = os.environ.get("UBUS_STANDIN_LOG")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def connect(socket_path: str = "/var/run/ubus.sock") -> bool:
    global _socket
    if _socket is not None:
        raise RuntimeError("You are already connected to ubus.")
    _log("binding connect %s" % socket_path)
    if socket_path != os.environ.get("UBUS_STANDIN_SOCKET", "/var/run/ubus/ubus.sock"):
        raise OSError("Failed to connect to the ubus socket '%s'\n" % socket_path)
    _socket = socket_path
    return True


def get_connected() -> bool:
    return _socket is not None


def get_socket_path():
    return _socket


def disconnect(deregister: bool = True) -> None:
    global _socket
    if _socket is None:
        raise RuntimeError("You are not connected to ubus.")
    _socket = None


def call(obj: str, method: str, arguments: dict, timeout: int = 0) -> list:
    if _socket is None:
        raise RuntimeError("You are not connected to ubus.")
    _log("binding call %s %s" % (obj, method))
    prefix = "network.interface."
    path = os.path.join(os.environ.get("UBUS_STANDIN_DIR", "."), obj[len(prefix):] + ".json")
    if not obj.startswith(prefix) or method != "status" or not os.path.exists(path):
        raise RuntimeError("Object '%s' was not found." % obj)
    with open(path) as f:
        return [json.load(f)]
