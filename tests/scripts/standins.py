"""Stand-ins for the commands the lifecycle scripts call on a notebook instance.

The sandbox runs this file as each command (docker, aws, curl, ...), the command's name first
among the arguments. Every call is appended to $FAKE_LOG as one line, a Python literal (`cmd`,
`argv` and what the command saw), and answered the way the real command would. Switches, all
environment variables:
  FAKE_DOCKER_PULL_FAIL=always|once   docker pull fails every time / the first time only
  FAKE_OPTIMUM_EXIT=N                 optimum-cli export exits with N
  FAKE_OPTIMUM_GATE=PATH              optimum-cli export waits until PATH exists
  FAKE_HF_DOWNLOAD_FAIL=REPO          every download of Hub repository REPO fails
  FAKE_HF_UPLOAD_EXIT=N               the upload to the Hub exits with N
  FAKE_NEURON_CONFIG=JSON             merged into the neuron config of every model downloaded or exported
  FAKE_HF_TOKEN=TOKEN                 the secret's value; without it the secret does not exist
  FAKE_S3_DISK_FULL=1                 S3 uploads fail after the first file with "No space left"
  FAKE_S3_DOWN=1                      S3 listings fail
  FAKE_LOGS_FAIL=1                    every CloudWatch Logs call fails
  FAKE_JUPYTER_SESSIONS / _TERMINALS  JSON the Jupyter API answers with (default: [])
  FAKE_JUPYTER_DOWN=1                 Jupyter does not answer
Docker's daemon state lives in $FAKE_STATE, S3 under $FAKE_S3. The images' Python answers the
Hugging Face Hub calls the scripts make (revision look-up, download, upload) from FAKE_HUB.

A compile calls these some 35 times, so only os and sys are imported up front: json, pathlib or
shutil would each add more to a call's start-up than the interpreter itself takes.
"""

from __future__ import annotations

import os
import sys
import time

ECR_PASSWORD = "fake-ecr-password"
DEFAULT_DOCKER_ROOT = "/var/lib/docker"
DAEMON_JSON = "/etc/docker/daemon.json"
GATE_TIMEOUT_SECONDS = 30


def revision_of(repository: str) -> str:
    """The newest commit of a fake Hub repository: 40 hex digits of its own."""
    return "".join(f"{ord(char):02x}" for char in repository)[-40:].rjust(40, "0")


def _checkpoint() -> dict[str, str]:
    return {"config.json": '{"model_type": "llama"}', "model.safetensors": "weights " * 64}


def _precompiled(checkpoint: str, auto_cast_type: str) -> dict[str, str]:
    """What the guide published: exported from a Hub id, so without checkpoint/ (optimum-neuron
    0.0.28 records where the weights are instead)."""
    neuron = {
        "task": "text-generation",
        "batch_size": 4,
        "num_cores": 2,
        "auto_cast_type": auto_cast_type,
        "sequence_length": 4096,
        "compiler_type": "neuronx-cc",
        "compiler_version": "2.15.143.0",
        "checkpoint_id": checkpoint,
        "checkpoint_revision": revision_of(checkpoint),
    }
    return {
        "config.json": repr({"model_type": "llama", "neuron": neuron}).replace("'", '"'),
        "compiled/model.neff": "compiled " * 64,
        "tokenizer.json": "{}",
    }


# Repository id: files, as a download of any revision yields them.
FAKE_HUB = {
    "MLP-KTLim/llama-3-Korean-Bllossom-8B": _checkpoint(),
    "Qwen/Qwen2.5-7B-Instruct": _checkpoint(),
    "Gonsoo/AWS-HF-optimum-neuron-0-0-28-llama-3-Korean-Bllossom-8B": _precompiled(
        "MLP-KTLim/llama-3-Korean-Bllossom-8B", "fp16"
    ),
    "Gonsoo/AWS-HF-optimum-neuron-0-0-28-Qwen2.5-7B-Instruct": _precompiled("Qwen/Qwen2.5-7B-Instruct", "bf16"),
}


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
        hub_call(argv, seen, args, host_path)
    elif entrypoint == "optimum-cli":
        optimum_export(argv, seen, host_path(args[args.index("--model") + 1]), host_path(args[-1]))
    else:
        record("docker", argv, **seen)
        fail(f"docker stand-in: unexpected container command {entrypoint} {args}", 2)


def hub_call(argv: list[str], seen: dict, args: list[str], host_path) -> None:
    """The scripts' `python3 -c CODE ARGS...` Hub calls, told apart by the huggingface_hub
    function the code calls."""
    code, parameters = args[1], args[2:]
    if "snapshot_download" in code:
        repository, revision, local_dir = parameters
        record(
            "docker",
            argv,
            **seen,
            hub={"op": "download", "repository": repository, "revision": revision, "local_dir": local_dir},
        )
        if repository not in FAKE_HUB or os.environ.get("FAKE_HF_DOWNLOAD_FAIL") == repository:
            fail(f"huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error for {repository}")
        for name, content in FAKE_HUB[repository].items():
            write(os.path.join(host_path(local_dir), name), adjusted_config(name, content))
        # snapshot_download keeps its own metadata beside the files it fetched.
        write(os.path.join(host_path(local_dir), ".cache", "huggingface", "download.lock"), "")
    elif "model_info" in code:
        repository, revision = parameters
        record("docker", argv, **seen, hub={"op": "revision", "repository": repository, "revision": revision})
        if repository not in FAKE_HUB:
            fail(f"huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error for {repository}")
        print(revision or revision_of(repository))
    elif "upload_folder" in code:
        repository, folder = parameters
        record("docker", argv, **seen, hub={"op": "upload", "repository": repository, "folder": folder})
        sys.exit(int(os.environ.get("FAKE_HF_UPLOAD_EXIT", "0")))
    else:
        record("docker", argv, **seen)
        fail(f"docker stand-in: unexpected Python in the image: {code}", 2)


def adjusted_config(name: str, content: str) -> str:
    """FAKE_NEURON_CONFIG merged into a model's neuron configuration, wherever it keeps it."""
    override = os.environ.get("FAKE_NEURON_CONFIG")
    if name not in ("config.json", "neuron_config.json") or not override:
        return content
    import json

    document = json.loads(content)
    if name == "neuron_config.json":
        document.update(json.loads(override))
    elif "neuron" in document:
        document["neuron"].update(json.loads(override))
    return json.dumps(document)


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
    # Exported from a local path, optimum-neuron copies the weights into the model and records no
    # Hub id for them.
    if "--num_cores" in seen["args"]:
        for name in files_under(checkpoint):
            if not name.startswith(".cache/"):
                write(os.path.join(output, "checkpoint", name), read(os.path.join(checkpoint, name)))
    args = seen["args"]

    def option(name: str) -> str:
        return args[args.index(name) + 1]

    if "--num_cores" in args:
        # optimum-neuron 0.0.28: the neuron configuration goes into config.json.
        neuron = {
            "batch_size": int(option("--batch_size")),
            "sequence_length": int(option("--sequence_length")),
            "auto_cast_type": option("--auto_cast_type"),
            "num_cores": int(option("--num_cores")),
            "checkpoint_id": None,
            "checkpoint_revision": None,
        }
        write_json(os.path.join(output, "config.json"), {"neuron": neuron})
    else:
        # optimum-neuron 0.4.x: neuron_config.json, model.pt, and the weights sharded per core.
        neuron = {
            "_serialized_key": "NxDNeuronConfig",
            "batch_size": int(option("--batch_size")),
            "sequence_length": int(option("--sequence_length")),
            "tp_degree": int(option("--tensor_parallel_size")),
            "torch_dtype": "bfloat16",
            "target": {"inf2": "trn1"}[option("--instance_type")],
            "checkpoint_id": None,
            "checkpoint_revision": None,
            "optimum_neuron_version": "0.4.4",
        }
        write_json(os.path.join(output, "neuron_config.json"), neuron)
        write(os.path.join(output, "config.json"), read(os.path.join(checkpoint, "config.json")))
        os.rename(os.path.join(output, "compiled", "model.neff"), os.path.join(output, "model.pt"))
        os.rmdir(os.path.join(output, "compiled"))
        for rank in range(neuron["tp_degree"]):
            write(os.path.join(output, "checkpoint", "weights", f"tp{rank}_sharded_checkpoint.safetensors"), "shard")


def write_json(path: str, document: dict) -> None:
    import json

    write(path, adjusted_config(os.path.basename(path), json.dumps(document)))


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
    if service == "s3api" and operation == "list-objects-v2":
        record("aws", argv)
        if os.environ.get("FAKE_S3_DOWN"):
            fail('Could not connect to the endpoint URL: "https://s3.us-west-2.amazonaws.com/"', 255)
        listed = os.path.exists(s3_path(f"{options['--bucket']}/{options['--prefix']}"))
        print(1 if listed else 0)
    elif service == "ecr" and operation == "get-login-password":
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
    # The hooks run as root; a real sudo would also swap the PATH common.sh sets for its secure_path.
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
