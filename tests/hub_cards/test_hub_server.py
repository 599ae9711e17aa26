"""The test Hub: its HTTP answers, and the unmodified huggingface_hub client working against it."""

from __future__ import annotations

import base64
import http.client
import json
import re

from hub_testing import ALICE_READ_TOKEN, ALICE_TOKEN, BOB_TOKEN, hub_server


def request(
    hub,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    headers: dict | None = None,
    chunked: bool = False,
):
    """One raw HTTP request; returns (status, headers, body)."""
    host, port = hub.httpd.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    if chunked:
        connection.request(method, path, body=iter([body[:10], body[10:]]), headers=all_headers, encode_chunked=True)
    else:
        connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, response.headers, data


def commit(hub, repo: str, files: dict[str, bytes], token=ALICE_TOKEN, revision="main", chunked=False):
    lines = [{"key": "header", "value": {"summary": "add files", "description": ""}}]
    lines += [
        {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}
        for path, content in files.items()
    ]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return request(
        hub,
        "POST",
        f"/api/models/{repo}/commit/{revision}",
        body,
        token,
        {"Content-Type": "application/x-ndjson"},
        chunked,
    )


def create(hub, name: str, token=ALICE_TOKEN, private=False):
    body = json.dumps({"name": name, "organization": None, "visibility": "private" if private else "public"})
    return request(hub, "POST", "/api/repos/create", body.encode(), token, {"Content-Type": "application/json"})


def test_resolve_answers_with_commit_etag_and_length(hub):
    assert create(hub, "demo")[0] == 200
    status, _, body = commit(hub, "alice/demo", {"weights.bin": b"\x00\x01" * 50, "dir/a.txt": b"hello"}, chunked=True)
    assert status == 200
    oid = json.loads(body)["commitOid"]
    assert re.fullmatch(r"[0-9a-f]{40}", oid)

    for revision in ("main", oid):
        status, headers, body = request(hub, "HEAD", f"/alice/demo/resolve/{revision}/dir/a.txt")
        assert (status, body) == (200, b"")
        assert headers["X-Repo-Commit"] == oid
        assert headers["ETag"] == f'"{hub_server.git_blob_id(b"hello")}"'
        assert headers["Content-Length"] == "5"
    status, headers, body = request(hub, "GET", "/alice/demo/resolve/main/weights.bin", headers={"Range": "bytes=98-"})
    assert (status, body, headers["Content-Range"]) == (206, b"\x00\x01", "bytes 98-99/100")

    status, headers, _ = request(hub, "HEAD", "/alice/demo/resolve/main/missing.txt")
    assert (status, headers["X-Error-Code"], headers["X-Repo-Commit"]) == (404, "EntryNotFound", oid)
    status, headers, _ = request(hub, "HEAD", "/alice/demo/resolve/nobranch/dir/a.txt")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    status, headers, _ = request(hub, "GET", "/alice/nothing/resolve/main/dir/a.txt")
    assert (status, headers["X-Error-Code"]) == (404, "RepoNotFound")


def test_create_conflict_names_the_url_and_unknown_routes_are_recorded(hub):
    assert create(hub, "demo")[0] == 200
    status, _, body = create(hub, "demo")
    assert status == 409 and json.loads(body)["url"] == f"{hub.url}/alice/demo"
    status, headers, _ = request(hub, "GET", "/api/models/alice/demo/discussions")
    assert status == 404 and "not implemented" in headers["X-Error-Message"]
    assert hub.unknown_requests == ["GET /api/models/alice/demo/discussions"]
    hub.unknown_requests.clear()


def test_refused_commits_write_nothing(hub):
    assert create(hub, "demo")[0] == 200
    before = json.dumps(hub.repo("alice/demo"))
    for token, status, message in [
        (None, 401, "Authentication required"),
        ("hf_nope", 401, "Invalid credentials"),
        (ALICE_READ_TOKEN, 403, "read-only"),
        (BOB_TOKEN, 403, "no write access"),
    ]:
        answer, headers, _ = commit(hub, "alice/demo", {"x.txt": b"x"}, token=token)
        assert answer == status and message in headers["X-Error-Message"]
    assert json.dumps(hub.repo("alice/demo")) == before
    answer, headers, _ = commit(hub, "alice/demo", {"x.txt": b"x"}, revision="no-such-branch")
    assert (answer, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    assert json.dumps(hub.repo("alice/demo")) == before


def test_malformed_requests_get_a_4xx_answer(hub):
    status, headers, _ = request(hub, "POST", "/api/repos/create", b"{not json", ALICE_TOKEN)
    assert status == 400 and "Bad request" in headers["X-Error-Message"]
    assert create(hub, "demo")[0] == 200
    status, headers, _ = request(hub, "POST", "/api/models/alice/demo/commit/main", b'{"key": "header"}\n', ALICE_TOKEN)
    assert status == 400 and "summary" in headers["X-Error-Message"]


def test_metadata_validation_follows_the_hub_rules():
    valid = "---\nlicense: mit\ntags: [attnseq]\npipeline_tag: text2text-generation\n---\n# card\n"
    assert hub_server.validate_card_metadata(valid) == []
    assert hub_server.validate_card_metadata("# no metadata\n") == []
    assert "pipeline_tag" in hub_server.validate_card_metadata("---\npipeline_tag: seq2seq\n---\n")[0]
    assert "tags" in hub_server.validate_card_metadata("---\ntags: {a: 1}\n---\n")[0]
    assert "model-index" in hub_server.validate_card_metadata("---\nmodel-index:\n- name: x\n  results: [{}]\n---\n")[0]
    assert "parse" in hub_server.validate_card_metadata("---\nlicense: [unclosed\n---\n")[0]


def test_client_round_trip_with_branches_and_commit_hashes(hub, run_client, tmp_path):
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("hello")
    (folder / "sub" / "data.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "README.md").write_text("---\nlicense: mit\ntags: [demo]\n---\n# demo\n")
    out = run_client("server_roundtrip", {"repo": "alice/demo", "folder": str(folder)}, token=ALICE_TOKEN)

    assert out["whoami"] == "alice"
    assert out["url"] == out["url_again"] == f"{hub.url}/alice/demo"
    assert "409" in out["create_twice"]
    assert out["info_sha"] == out["first"]
    assert out["siblings"] == [".gitattributes", "README.md", "a.txt", "sub/data.bin"]
    assert out["card_tags"] == ["demo"]
    assert out["tree"] == [".gitattributes", "README.md", "a.txt", "sub", "sub/data.bin"]
    assert out["tree_top"] == [".gitattributes", "README.md", "a.txt", "sub"]
    assert bytes.fromhex(out["nested"]) == bytes(range(256)) * 4
    assert out["snapshot"] == [".gitattributes", "README.md", "a.txt", "sub/data.bin"]
    assert "409" in out["branch_twice"]
    assert (out["a_main"], out["a_dev"], out["a_first"]) == ("hello", "changed on dev", "hello")
    assert out["info_dev_sha"] == out["dev"] == out["refs"]["dev"] == out["unchanged_oid"]
    assert out["refs"]["main"] == out["first"]  # pushing to dev left main where it was
    assert out["dev_history"] == ["dev change", "first upload", "initial commit"]
    assert out["exists_after_delete"] is False and out["old_revision_still_has_it"] is True
    assert out["paths_info"] == [["RepoFile", "a.txt"], ["RepoFolder", "sub"]]
    assert "412" in out["stale_parent"] and "A commit has happened since" in out["stale_parent"]
    assert "late.txt" not in hub.files("alice/demo")
    assert out["deleted_repo"].startswith("RepositoryNotFoundError") and hub.repo("alice/scratch") is None
    assert out["missing_file"].startswith("RemoteEntryNotFoundError")
    assert out["missing_revision"].startswith("RevisionNotFoundError")
    assert out["missing_repo"].startswith("RepositoryNotFoundError")


def test_client_writes_need_a_write_token_for_the_namespace(hub, run_client, tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.txt").write_text("hello")
    assert create(hub, "demo")[0] == 200
    before = json.dumps(hub.repo("alice/demo"))
    out = run_client(
        "refused_writes",
        {"repo": "alice/demo", "folder": str(folder), "bob_token": BOB_TOKEN, "read_token": ALICE_READ_TOKEN},
    )
    for label, expected in [
        ("none", "Authentication required"),
        ("wrong", "Invalid credentials"),
        ("read_only", "read-only"),
        ("other_user", "no write access"),
    ]:
        for action in ("create", "upload", "branch"):
            assert out[f"{action}_{label}"] is not None and expected in out[f"{action}_{label}"], (action, label)
    assert json.dumps(hub.repo("alice/demo")) == before
    assert hub.repo("alice/refused") is None


def test_client_private_repo_needs_the_owners_token(hub, run_client):
    assert create(hub, "secret", private=True)[0] == 200
    assert commit(hub, "alice/secret", {"a.txt": b"hello"})[0] == 200
    out = run_client("private_reads", {"repo": "alice/secret", "token": ALICE_TOKEN, "bob_token": BOB_TOKEN})
    assert out["none"].startswith("RepositoryNotFoundError") and out["other_user"].startswith("RepositoryNotFound")
    assert "Invalid credentials" in out["wrong"]
    assert out["owner"] is None
