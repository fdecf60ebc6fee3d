"""Stand-ins for the commands the lifecycle scripts call on a notebook instance.

The sandbox runs this file as each command (docker, aws, curl, ...), the command's name first
among the arguments. Every call is appended to $FAKE_LOG as one line, a Python literal (`cmd`,
`argv` and what the command saw), and answered the way the real command would. Switches, all
environment variables:
  FAKE_DOCKER_PULL_FAIL=always|once   docker pull fails every time / the first time only
  FAKE_OPTIMUM_EXIT=N                 optimum-cli export exits with N
  FAKE_OPTIMUM_GATE=PATH              optimum-cli export waits until PATH exists
  FAKE_HF_UPLOAD_EXIT=N               huggingface-cli upload exits with N
  FAKE_HF_TOKEN=TOKEN                 the secret's value; without it the secret does not exist
  FAKE_S3_DISK_FULL=1                 S3 uploads fail after the first file with "No space left"
  FAKE_LOGS_FAIL=1                    every CloudWatch Logs call fails
  FAKE_JUPYTER_SESSIONS / _TERMINALS  JSON the Jupyter API answers with (default: [])
  FAKE_JUPYTER_DOWN=1                 Jupyter does not answer
Docker's daemon state lives in $FAKE_STATE, S3 under $FAKE_S3.

A compile calls these some 35 times, so only os and sys are imported up front: json, pathlib or
shutil would each add more to a call's start-up than the interpreter itself takes.
"""

from __future__ import annotations

import os
import sys
import time

ECR_PASSWORD = "fake-ecr-password"
MODEL_REVISION = "0123456789abcdef0123456789abcdef01234567"
DEFAULT_DOCKER_ROOT = "/var/lib/docker"
DAEMON_JSON = "/etc/docker/daemon.json"
CHECKPOINT_FILES = {"config.json": '{"model_type": "llama"}', "model.safetensors": "weights " * 64}
GATE_TIMEOUT_SECONDS = 30


def record(cmd: str, argv: list[str], **seen: object) -> None:
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(repr({"cmd": cmd, "argv": argv, **seen}) + "\n")


def fail(message: str, status: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(status)


def read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read()
    except FileNotFoundError:
        return None


def write(path: str, content: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write(content)


def files_under(root: str) -> list[str]:
    """Paths of the files under root, relative to it, sorted."""
    return sorted(
        os.path.relpath(os.path.join(folder, name), root) for folder, _, names in os.walk(root) for name in names
    )


# --- docker, and the daemon systemctl controls ---


def state_file(name: str) -> str:
    return os.path.join(os.environ["FAKE_STATE"], name)


def docker_root() -> str | None:
    """The running daemon's data root; None while it is stopped."""
    return read(state_file("docker-root")) or None


def image_marker(image: str) -> str:
    return os.path.join(docker_root(), "image", image.replace("/", "_").replace(":", "_"))


def systemctl(argv: list[str]) -> None:
    record("systemctl", argv, daemon_json=read(DAEMON_JSON))
    action, units = argv[0], argv[1:]
    if "docker" in units and action == "stop":
        write(state_file("docker-root"), "")
    elif "docker" in units and action == "start":
        import json

        # Like dockerd: the configuration counts as it is when Docker starts.
        configured = json.loads(read(DAEMON_JSON) or "{}").get("data-root", DEFAULT_DOCKER_ROOT)
        write(state_file("docker-root"), configured)


def docker(argv: list[str]) -> None:
    root = docker_root()
    if root is None:
        record("docker", argv, daemon_running=False)
        fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
    command = argv[0]
    if command == "info":
        record("docker", argv)
        print(f"Client:\n Context:    default\n\nServer:\n Storage Driver: overlay2\n Docker Root Dir: {root}")
    elif command == "login":
        password = sys.stdin.read().strip()
        record("docker", argv, registry=argv[-1], password_ok=password == ECR_PASSWORD)
        print("Login Succeeded")
    elif command == "pull":
        docker_pull(argv)
    elif command == "run":
        docker_run(argv)
    else:
        record("docker", argv)
        fail(f"docker stand-in: unexpected command {argv}", 2)


def docker_pull(argv: list[str]) -> None:
    image = argv[-1]
    pulls = int(read(state_file("pulls")) or 0) + 1
    write(state_file("pulls"), str(pulls))
    mode = os.environ.get("FAKE_DOCKER_PULL_FAIL", "")
    if mode == "always" or (mode == "once" and pulls == 1):
        record("docker", argv, image=image, pulled=False)
        fail(f'Error response from daemon: Get "https://{image.split("/")[0]}/v2/": net/http: TLS handshake timeout')
    write(image_marker(image), image)
    record("docker", argv, image=image, pulled=True, stored_in=docker_root())


def docker_run(argv: list[str]) -> None:
    options_with_value = {"-e", "--env", "-v", "--volume", "--entrypoint", "-p", "--name"}
    env_names, volumes, entrypoint, privileged = [], {}, None, False
    index = 1
    while argv[index].startswith("-"):
        option = argv[index]
        value = argv[index + 1] if option in options_with_value else None
        if option in ("-e", "--env"):
            env_names.append(value)
        elif option in ("-v", "--volume"):
            source, target = value.split(":")[:2]
            volumes[target] = source
        elif option == "--entrypoint":
            entrypoint = value
        elif option == "--privileged":
            privileged = True
        index += 2 if value is not None else 1
    image, args = argv[index], argv[index + 1 :]
    # `-e NAME` hands over this process's NAME; record whether the token arrived, never its value.
    token = os.environ.get("FAKE_HF_TOKEN")
    seen = dict(
        image=image,
        entrypoint=entrypoint,
        args=args,
        volumes=volumes,
        privileged=privileged,
        hf_token_passed=token is not None and "HF_TOKEN" in env_names and os.environ.get("HF_TOKEN") == token,
    )
    if not os.path.exists(image_marker(image)):
        record("docker", argv, **seen, image_present=False)
        fail(f"Unable to find image '{image}' locally")

    def host_path(container_path: str) -> str:
        return os.path.join(volumes["/data"], os.path.relpath(container_path, "/data"))

    if entrypoint == "python3":
        record("docker", argv, **seen)
        print(MODEL_REVISION)
    elif entrypoint == "huggingface-cli" and args[0] == "download":
        checkpoint = host_path(args[args.index("--local-dir") + 1])
        for name, content in CHECKPOINT_FILES.items():
            write(os.path.join(checkpoint, name), content)
        record("docker", argv, **seen)
    elif entrypoint == "huggingface-cli" and args[0] == "upload":
        record("docker", argv, **seen)
        sys.exit(int(os.environ.get("FAKE_HF_UPLOAD_EXIT", "0")))
    elif entrypoint == "optimum-cli":
        optimum_export(argv, seen, host_path(args[args.index("--model") + 1]), host_path(args[-1]))
    else:
        record("docker", argv, **seen)
        fail(f"docker stand-in: unexpected container command {entrypoint} {args}", 2)


def optimum_export(argv: list[str], seen: dict, checkpoint: str, output: str) -> None:
    record("docker", argv, **seen, output_leftovers=files_under(output), phase="started")
    in_progress = os.path.join(output, "compiled", "in-progress.neff")
    write(in_progress, "half a model")
    gate = os.environ.get("FAKE_OPTIMUM_GATE")
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    while gate and not os.path.exists(gate):
        if time.monotonic() > deadline:
            fail("optimum-cli stand-in: gate never opened")
        time.sleep(0.02)
    status = int(os.environ.get("FAKE_OPTIMUM_EXIT", "0"))
    record("docker", argv, **seen, phase="finished", exit=status)
    if status:
        fail("neuronx-cc failed: Compilation failure", status)
    os.rename(in_progress, os.path.join(output, "compiled", "model.neff"))
    # Exported from a local path, optimum-neuron copies the checkpoint into the model.
    for name in files_under(checkpoint):
        write(os.path.join(output, "checkpoint", name), read(os.path.join(checkpoint, name)))
    write(os.path.join(output, "config.json"), '{"neuron": {"checkpoint_id": null}}')


# --- aws ---


def s3_path(uri: str) -> str:
    return os.path.join(os.environ["FAKE_S3"], uri.removeprefix("s3://"))


def s3_put(source: str, uri: str, written: list[str]) -> None:
    if os.environ.get("FAKE_S3_DISK_FULL") and written:
        fail(f"upload failed: {source} to {uri} [Errno 28] No space left on device")
    write(s3_path(uri), read(source))
    written.append(uri)


def aws(argv: list[str]) -> None:
    words, options, index = [], {}, 0
    while index < len(argv):
        if argv[index] in ("--only-show-errors", "--delete"):
            options[argv[index]] = True
            index += 1
        elif argv[index].startswith("--"):
            options[argv[index]] = argv[index + 1]
            index += 2
        else:
            words.append(argv[index])
            index += 1
    service, operation = words[0], words[1]
    if service == "ecr" and operation == "get-login-password":
        record("aws", argv)
        print(ECR_PASSWORD)
    elif service == "s3":
        aws_s3(argv, operation, words[2:], delete="--delete" in options)
    elif service == "logs":
        # The harness reads the messages from --log-events.
        record("aws", argv)
        if os.environ.get("FAKE_LOGS_FAIL"):
            fail("An error occurred (ResourceNotFoundException): The specified log group does not exist.", 254)
    elif service == "secretsmanager" and operation == "get-secret-value":
        record("aws", argv)
        if "FAKE_HF_TOKEN" not in os.environ:
            fail("An error occurred (ResourceNotFoundException): Secrets Manager can't find the specified secret.", 254)
        print(os.environ["FAKE_HF_TOKEN"])
    elif service == "sagemaker" and operation == "stop-notebook-instance":
        record("aws", argv, stopped=options["--notebook-instance-name"])
    else:
        record("aws", argv)
        fail(f"aws stand-in: unexpected call {argv}", 2)


def aws_s3(argv: list[str], operation: str, paths: list[str], *, delete: bool) -> None:
    written: list[str] = []
    try:
        if operation == "rm":
            if os.path.exists(s3_path(paths[0])):
                os.remove(s3_path(paths[0]))
        elif operation == "cp":
            s3_put(paths[0], paths[1], written)
        elif operation == "sync":
            source, prefix = paths[0], paths[1].rstrip("/") + "/"
            local = files_under(source)
            if delete:
                for stale in set(files_under(s3_path(prefix))) - set(local):
                    os.remove(s3_path(prefix + stale))
            for name in local:
                s3_put(os.path.join(source, name), prefix + name, written)
        else:
            fail(f"aws stand-in: unexpected s3 call {argv}", 2)
    finally:
        record("aws", argv, s3_written=written)


# --- everything else ---


def curl(argv: list[str]) -> None:
    options_with_value = {"-X", "--request", "-H", "--header", "--data-binary", "-d", "--data", "--retry", "--max-time"}
    method, headers, body, url, index = "GET", [], None, None, 0
    while index < len(argv):
        word = argv[index]
        if word in options_with_value:
            value = argv[index + 1]
            if word in ("-X", "--request"):
                method = value
            elif word in ("-H", "--header"):
                headers.append(value)
            elif word in ("--data-binary", "-d", "--data"):
                body = value
            index += 2
            continue
        if not word.startswith("-"):
            url = word
        index += 1
    if url.startswith("https://localhost:8443/api/"):
        record("curl", argv)
        if os.environ.get("FAKE_JUPYTER_DOWN"):
            fail("curl: (7) Failed to connect to localhost port 8443: Connection refused", 7)
        listing = url.rsplit("/", 1)[1].upper()
        print(os.environ.get(f"FAKE_JUPYTER_{listing}", "[]"))
        return
    record("curl", argv, method=method, headers=headers, body=body, url=url)


def fallocate(argv: list[str]) -> None:
    record("fallocate", argv)
    write(argv[-1], f"swap of {argv[argv.index('-l') + 1]}\n")


def sudo(argv: list[str]) -> None:
    # The hooks run as root; a real sudo would also reset PATH and reach past these stand-ins.
    record("sudo", argv)
    fail("sudo stand-in: the lifecycle scripts run as root and must not call sudo")


def recorded_only(name: str):
    return lambda argv: record(name, argv)


COMMANDS = {
    "aws": aws,
    "curl": curl,
    "docker": docker,
    "fallocate": fallocate,
    "mkswap": recorded_only("mkswap"),
    "swapon": recorded_only("swapon"),
    "sudo": sudo,
    "systemctl": systemctl,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
