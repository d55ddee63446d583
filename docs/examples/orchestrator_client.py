#!/usr/bin/python3
"""How an orchestrator calls a pool agent: mutual TLS, a bearer token, host facts, the catalog,
a download with its progress events, and the agent's errors. docs/api.md walks through it, and
tests/api/api_client_test.py runs it against a real agent.

Generate the stubs first (docs/api.md, "Python stubs") and put them on PYTHONPATH:

    PYTHONPATH=gen docs/examples/orchestrator_client.py --agent gpu-host-1:9200 --ca ca.pem \\
        --cert client.pem --key client.key --token-file admin.token download tinyllama

Commands: info, catalog, download ID... Exit status 0 when the call succeeded, 1 when the agent
refused it or the operation failed (the error on stderr), 2 for a bad command line.
"""

import argparse
import sys

import grpc
from llorch.pool.v1 import agent_pb2, agent_pb2_grpc, common_pb2, model_pb2, model_pb2_grpc
from llorch.pool.v1 import operation_pb2


class AgentError(Exception):
    """A call the agent refused, or an operation that failed: the gRPC status code, the message,
    and what the agent's ErrorHint adds (reason, hint, metadata; empty when it sent none)."""

    def __init__(self, code, message, hint=None):
        hint = hint or common_pb2.ErrorHint()
        super().__init__(f"{code.name}: {message}")
        self.code = code  # a grpc.StatusCode
        self.message = message
        self.reason = hint.reason  # stable, for programs: switch on this, never on the message
        self.hint = hint.hint  # the next step, for people
        self.metadata = dict(hint.metadata)  # the error's facts, e.g. {"model": "qwn"}


def error_hint(status):
    """The ErrorHint among an RpcStatus's details (an empty one when there is none)."""
    hint = common_pb2.ErrorHint()
    for detail in status.details:
        if detail.Is(common_pb2.ErrorHint.DESCRIPTOR):
            detail.Unpack(hint)
    return hint


def error_of_call(error):
    """AgentError from a failed call: its status details travel in the trailing metadata
    `grpc-status-details-bin`, a serialized RpcStatus (google.rpc.Status on the wire)."""
    status = common_pb2.RpcStatus()
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status.ParseFromString(value)
    return AgentError(error.code(), error.details(), error_hint(status))


def error_of_operation(status):
    """AgentError from the RpcStatus of a failed or cancelled operation's final event."""
    codes = {code.value[0]: code for code in grpc.StatusCode}
    return AgentError(codes.get(status.code, grpc.StatusCode.UNKNOWN), status.message,
                      error_hint(status))


class PoolAgent:
    """One agent over TLS. `token` (admin or read-only) goes with every call as the metadata
    `authorization: Bearer TOKEN`; without one, a client certificate the agent's CA signed gets
    the agent's `client_cert_role`."""

    def __init__(self, address, ca, cert=None, key=None, token=None, timeout=30):
        credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                                   certificate_chain=cert)
        if token:
            # access_token_call_credentials sends exactly "authorization: Bearer TOKEN".
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(token))
        self.channel = grpc.secure_channel(address, credentials)
        self.timeout = timeout  # seconds, for every unary call
        self.agent = agent_pb2_grpc.AgentServiceStub(self.channel)
        self.models = model_pb2_grpc.ModelServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def host_info(self):
        """HostInfo: hostname, versions, GPUs, backends, disk, downloaded models, workers."""
        try:
            return self.agent.GetHostInfo(agent_pb2.GetHostInfoRequest(), timeout=self.timeout)
        except grpc.RpcError as error:
            raise error_of_call(error) from None

    def catalog(self, ids=()):
        """The catalog's entries (all, or those of `ids`) with their state on this host."""
        try:
            return self.models.ListCatalog(model_pb2.ListCatalogRequest(ids=ids),
                                           timeout=self.timeout).entries
        except grpc.RpcError as error:
            raise error_of_call(error) from None

    def model_info(self, model_id):
        """ModelInfo of one model: catalog data, files, manifest, GGUF metadata."""
        try:
            return self.models.GetModelInfo(model_pb2.GetModelInfoRequest(id=model_id),
                                            timeout=self.timeout)
        except grpc.RpcError as error:
            raise error_of_call(error) from None

    def download(self, ids, request_id="", on_event=None):
        """Downloads `ids` (one operation) and returns its DownloadModelResult; `on_event` sees
        every OperationEvent as it comes (progress, log lines, the final one). The same
        `request_id` again joins the operation instead of starting another (a retry after a
        broken stream); WatchOperation(operation_id) would follow it too."""
        request = model_pb2.DownloadModelRequest(ids=ids, request_id=request_id)
        try:
            for event in self.models.DownloadModel(request):  # no deadline: downloads take long
                if on_event:
                    on_event(event)
                if event.final:
                    if event.state != operation_pb2.OPERATION_STATE_SUCCEEDED:
                        raise error_of_operation(event.error)
                    result = model_pb2.DownloadModelResult()
                    event.result.Unpack(result)
                    return result
        except grpc.RpcError as error:
            raise error_of_call(error) from None  # refused before an operation existed
        raise AgentError(grpc.StatusCode.UNAVAILABLE, "the stream ended without a final event")


def print_progress(event):
    """One line per progress or log event, on stderr."""
    if event.HasField("progress"):
        p = event.progress
        total = f" / {p.total}" if p.total else ""
        print(f"{event.operation_id} {p.phase} {p.current_item}: {p.done}{total}"
              f" {operation_pb2.ProgressUnit.Name(p.unit)}", file=sys.stderr)
    elif event.HasField("log"):
        print(f"{event.operation_id} {event.log.text}", file=sys.stderr)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", required=True, help="HOST:PORT of the agent's TLS listener")
    parser.add_argument("--ca", required=True, help="the CA that signed the agent's certificate")
    parser.add_argument("--cert", help="this client's certificate (mutual TLS)")
    parser.add_argument("--key", help="its private key")
    parser.add_argument("--token-file", help="the admin or read-only token")
    parser.add_argument("command", choices=["info", "catalog", "download"])
    parser.add_argument("ids", nargs="*", help="model ids (download)")
    args = parser.parse_args(argv)

    def read(path):
        with open(path, "rb") as f:
            return f.read()
    token = read(args.token_file).decode().strip() if args.token_file else None
    agent = PoolAgent(args.agent, read(args.ca), args.cert and read(args.cert),
                      args.key and read(args.key), token)
    try:
        if args.command == "info":
            info = agent.host_info()
            print(f"{info.hostname}: pool-agent {info.agent_version} (API {info.api_version}), "
                  f"{info.cpu_count} CPUs, {len(info.gpus.gpus)} GPUs, "
                  f"{info.models_disk.free_bytes} bytes free in {info.models_dir}")
        elif args.command == "catalog":
            for entry in agent.catalog(args.ids):
                print(f"{entry.model.id} {model_pb2.DownloadState.Name(entry.state)}")
        else:
            result = agent.download(args.ids, on_event=print_progress)
            for model in result.models:
                print(f"{model.id} {model.local_path} sha256={model.manifest.sha256}")
    except AgentError as error:
        print(f"error: {error.code.name}: {error.message}", file=sys.stderr)
        if error.reason:
            print(f"reason: {error.reason} {error.metadata}", file=sys.stderr)
        if error.hint:
            print(f"hint: {error.hint}", file=sys.stderr)
        return 1
    finally:
        agent.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
