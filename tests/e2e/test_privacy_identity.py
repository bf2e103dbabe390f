"""One canonical identity per file: however a client spells the URI of a private file —
percent-encoding, `localhost`, case, NFD, `..`, symlinks, a version-control view, a
notebook cell, an unknown scheme — it is judged as that file and never sent."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path
from urllib.parse import quote

from tests.fakes.openai_fake import FakeOpenAI
from tests.support.privacy_e2e import (
    AWS_KEY,
    assert_not_received,
    cloud_config,
    lsp_server,
    project,
    prompts,
)

NFC_DIR = unicodedata.normalize("NFC", "privé")
NFD_DIR = unicodedata.normalize("NFD", "privé")
USER_GLOBS = '\n[privacy]\nglobs = ["' + NFC_DIR + '/**"]\n'


def text(marker: str) -> str:
    return f"def f():\n    return '{marker}'\n"


def spellings(ws: Path) -> dict[str, str]:
    """Marker → a URI that names a private file (or a view of one) of ``ws``."""
    root = ws.as_uri()  # file:///.../ws
    path = quote(str(ws))
    git_query = quote(json.dumps({"path": str(ws / "secrets/api.py"), "ref": "HEAD~1"}))
    return {
        "M_ENCODED_LETTER": f"{root}/secret%73/api.py",
        "M_ENCODED_SLASH": f"{root}/secrets%2Fapi.py",
        "M_ENCODED_COLON": f"{root}/secrets/a%3Ab.py",
        "M_ENCODED_ALL": "file://" + "".join(f"%{b:02X}" for b in f"{ws}/secrets/api.py".encode()),
        "M_LOCALHOST": f"file://localhost{path}/secrets/api.py",
        "M_UPPER_SCHEME": f"FILE://{path}/secrets/api.py",
        "M_DOTDOT": f"{root}/public/../secrets/api.py",
        "M_DOUBLE_SLASH": f"{root}//secrets//api.py",
        "M_MIXED_CASE": f"{root}/SeCrEtS/api.py",
        "M_ENV_CASE": f"{root}/.ENV",
        "M_NFD": f"{root}/{quote(NFD_DIR)}/plan.py",
        "M_SYMLINK_DIR": f"{root}/innocent/api.py",
        "M_SYMLINK_FILE": f"{root}/harmless.py",
        # A link inside the private folder to a public file: the name the user opened is
        # under the glob, so it is private too.
        "M_LINK_OUT": f"{root}/secrets/to_public.py",
        "M_UNC": f"file://fileserver/share{path}/secrets/api.py",
        "M_BACKSLASHES": "file:///C:%5CUsers%5Csomeone%5Csecrets%5Capi.py",
        "M_GIT": f"git:{path}/secrets/api.py?{git_query}",
        "M_GIT_HEAD": f"git:{path}/secrets/api.py",
        "M_FUGITIVE": f"fugitive://{path}/.git//0/secrets/api.py",
        "M_DIFFVIEW": f"diffview://{path}/.git/abc1234/secrets/api.py",
        "M_CELL": f"vscode-notebook-cell:{path}/secrets/nb.ipynb#W0sZmlsZQ%3D%3D",
        "M_UNKNOWN_PRIVATE": f"weird-scheme:{path}/secrets/api.py",
        "M_UNKNOWN_PUBLIC": f"weird-scheme:{path}/public.py",
        "M_NO_SCHEME": f"{ws}/secrets/api.py",
        "M_UNTITLED_AT_PATH": f"untitled:{path}/secrets/new.py",
        "M_WINDOWS": "file:///c%3A/Users/someone/project/secrets/api.py",
        "M_REMOTE": "vscode-remote://ssh-remote%2Bbox/home/someone/project/secrets/api.py",
        "M_VFS": "vscode-vfs://github/someone/project/secrets/api.py",
        "M_QUERY": f"{root}/secrets/api.py?x=1#frag",
        "M_NUL": f"{root}/secrets/api.py%00.txt",
    }


def workspace(base: Path) -> Path:
    ws = project(
        base,
        {
            "secrets/api.py": text("ON_DISK"),
            "secrets/a:b.py": text("ON_DISK"),
            "secrets/nb.ipynb": "{}",
            ".env": "X=1\n",
            f"{NFD_DIR}/plan.py": text("ON_DISK"),
            "public/keep.py": text("ON_DISK"),
            "public.py": text("PUBLIC_DISK"),
            "nb.ipynb": json.dumps({"cells": [{"source": [f"key = '{AWS_KEY}'"]}]}),
            "keys.py": f"KEY = '{AWS_KEY}'\n",
        },
    )
    os.symlink(ws / "secrets", ws / "innocent")
    os.symlink(ws / "secrets/api.py", ws / "harmless.py")
    os.symlink(ws / "public.py", ws / "secrets/to_public.py")
    return ws


async def test_every_spelling_of_a_private_file_is_that_file(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    uris = spellings(ws)
    with FakeOpenAI() as cloud:
        async with lsp_server(
            tmp_path / "home", cloud_config(cloud) + USER_GLOBS, folders=[ws]
        ) as s:
            leaks = []
            for marker, uri in uris.items():
                s.open(uri, text(marker))
                try:
                    await s.refused("localroute.review", {"uri": uri})
                except AssertionError as exc:
                    leaks.append(f"{marker} {uri}: {exc}")
            assert not leaks, "\n".join(leaks)

            # Views of a file whose working copy holds a key: an older text without it, a
            # cell of a notebook that holds one elsewhere.
            views = {
                "M_GIT_OLD": f"git:{quote(str(ws))}/keys.py?"
                + quote(json.dumps({"path": str(ws / "keys.py"), "ref": "HEAD~3"})),
                "M_FUGITIVE_OLD": f"fugitive://{quote(str(ws))}/.git//1/keys.py",
                "M_CELL_OLD": f"vscode-notebook-cell:{quote(str(ws))}/nb.ipynb#W1sZmlsZQ%3D%3D",
            }
            for marker, uri in views.items():
                s.open(uri, text(marker))
                await s.refused("localroute.review", {"uri": uri})

            # Not opened in the editor: read from disk under the URI's spelling.
            for uri in (f"{ws.as_uri()}/secret%73/api.py", f"{ws.as_uri()}/innocent/api.py"):
                await s.refused("localroute.review", {"uri": uri, "refresh": True})

            # What may go still goes: an untitled buffer without a credential, a public file.
            s.open("untitled:Untitled-1", text("UNTITLED_CLEAN"))
            await s.command("localroute.review", {"uri": "untitled:Untitled-1"})
            await s.command("localroute.review", {"uri": (ws / "public.py").as_uri()})
            assert len(cloud.chat_requests) == 2
            s.open("untitled:Untitled-2", f"{text('M_UNTITLED_KEY')}K = '{AWS_KEY}'\n")
            await s.refused("localroute.review", {"uri": "untitled:Untitled-2"})
        assert_not_received(cloud, *uris, *views, "M_UNTITLED_KEY", "ON_DISK", AWS_KEY)
        # The untitled buffer is named by its own name, never a path of this machine.
        assert all(str(tmp_path) not in p for p in prompts(cloud))


async def test_a_cell_of_a_notebook_whose_unsaved_cell_holds_a_key(tmp_path: Path) -> None:
    """The notebook is one document: a key typed into another cell (not saved yet, so not
    in the file on disk) makes every cell private."""
    ws = project(tmp_path / "ws", {"nb.ipynb": json.dumps({"cells": []})})
    base = f"vscode-notebook-cell:{quote(str(ws))}/nb.ipynb"
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            clean = s.open(f"{base}#W0sZmlsZQ%3D%3D", text("CELL_CLEAN"))
            s.open(f"{base}#W1sZmlsZQ%3D%3D", f"KEY = '{AWS_KEY}'\n")
            await s.refused("localroute.review", {"uri": clean})
            await s.refused("localroute.explain", {"uri": clean, "range": None})
        assert_not_received(cloud, "CELL_CLEAN", AWS_KEY)


async def test_a_version_control_view_of_a_file_with_an_unsaved_key(tmp_path: Path) -> None:
    """`git:` shows the committed text; the file itself, as the editor has it now, holds
    a key the user just pasted: the view is that file, so it is private."""
    ws = project(tmp_path / "ws", {"app.py": text("COMMITTED")})
    path = quote(str(ws / "app.py"))
    views = [
        f"git:{path}?" + quote(json.dumps({"path": str(ws / "app.py"), "ref": "HEAD"})),
        f"fugitive://{quote(str(ws))}/.git//0/app.py",
    ]
    with FakeOpenAI() as cloud:
        async with lsp_server(tmp_path / "home", cloud_config(cloud), folders=[ws]) as s:
            s.open((ws / "app.py").as_uri(), text("COMMITTED") + f"KEY = '{AWS_KEY}'\n")
            for view in views:
                s.open(view, text("COMMITTED"))
                await s.refused("localroute.review", {"uri": view})
        assert_not_received(cloud, "COMMITTED", AWS_KEY)


async def test_a_file_with_another_name_on_disk_is_kept_local(tmp_path: Path) -> None:
    """A hard link has no canonical name to resolve: the file may be private under its
    other name (here one the privacy globs match), so it is private under every name."""
    ws = project(tmp_path / "ws", {"secrets/settings.py": text("M_HARD_LINK"), "lone.py": ""})
    os.link(ws / "secrets/settings.py", ws / "settings_copy.py")
    (ws / "lone.py").write_text(text("M_ONE_NAME"))
    with FakeOpenAI() as cloud:
        config = cloud_config(cloud, extra='\n[privacy]\nglobs = ["secrets/**"]\n')
        async with lsp_server(tmp_path / "home", config, folders=[ws]) as s:
            refused = await s.refused(
                "localroute.review", {"uri": (ws / "settings_copy.py").as_uri()}
            )
            assert "other name on disk (hard links)" in refused.message, refused.message
            await s.command("localroute.review", {"uri": (ws / "lone.py").as_uri()})
        assert_not_received(cloud, "M_HARD_LINK")
        assert any("M_ONE_NAME" in p for p in prompts(cloud))
