"""Docs and docstrings name only modules and files that exist.

Scans every docstring and comment of the shipped Python packages and every Markdown file of
the repository for

* dotted names of the repository's packages (``opscadence.reporting.slack.brief.render_daily_brief``,
  ``flows.common``): the longest importable module prefix is imported and the rest must be
  attributes of it;
* relative paths (``sql/kpi/order_measures.sql``, ``docs/metrics.md``, ``tests/unit/``): they
  must exist relative to the repository root.

Nothing is listed by hand: the packages are the repository's top-level folders with an
``__init__.py``, the scanned Python packages are those pyproject.toml ships, and a path is
checked when it starts with a top-level folder or ends in an extension some file of the
repository has. Placeholders (anything with ``<``, ``*``, ``{`` or ``…``) are skipped.
"""

from __future__ import annotations

import ast
import importlib
import io
import os
import re
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLACEHOLDER = re.compile(r"[<>*{}…]")
# Names that end like a file are files (``opscadence.yaml``), not modules.
FILE_SUFFIXES = {"py", "md", "sql", "json", "yaml", "yml", "toml", "csv", "txt", "sqlite", "lock", "sh", "png",
                 "html", "log", "cfg", "ini"}
# A token: what lies between whitespace, quotes, backticks, brackets and commas.
_TOKEN = re.compile(r"[^\s`'\"()\[\],;|]+")
_PATH = re.compile(r"[A-Za-z0-9_][\w.-]*(?:/[\w.-]+)*/?")
_TRAILING = ".,:;!?"


@dataclass(frozen=True)
class Reference:
    file: str  # relative to the root
    line: int
    kind: str  # "module" or "path"
    target: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind} {self.target!r}"


def _skipped_dir(path: Path) -> bool:
    return (path.name.startswith((".", "__")) or path.name in {"node_modules", "build", "dist"}
            or path.name.endswith(".egg-info") or (path / "pyvenv.cfg").exists())


def walk_files(root: Path, suffix: str) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skipped_dir(Path(folder) / d))
        found += [Path(folder) / f for f in sorted(files) if f.endswith(suffix)]
    return found


def packages(root: Path) -> set[str]:
    """Top-level importable packages of the repository."""
    return {p.name for p in root.iterdir() if p.is_dir() and not _skipped_dir(p) and (p / "__init__.py").exists()}


def shipped_packages(root: Path) -> list[str]:
    """The packages pyproject.toml builds into the wheel (all but ``tests`` when it does not say)."""
    try:
        config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        listed = config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    except (OSError, KeyError):
        listed = sorted(packages(root) - {"tests"})
    return [name for name in listed if (root / name).is_dir()]


def top_dirs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and not _skipped_dir(p)}


def file_suffixes(root: Path) -> set[str]:
    return {p.suffix[1:] for p in walk_files(root, "") if p.suffix}


def python_texts(path: Path) -> list[tuple[int, str]]:
    """(first line, text) of every docstring, string statement and comment of a Python file."""
    source = path.read_text(encoding="utf-8")
    texts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            texts.append((node.lineno, node.value.value))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            texts.append((token.start[0], token.string))
    return texts


def references(root: Path) -> list[Reference]:
    """Every module and path reference in the shipped packages' docstrings and comments and in Markdown."""
    pkgs = packages(root)
    dirs = top_dirs(root)
    suffixes = file_suffixes(root)
    dotted = re.compile(r"(?<![\w./-])(?:%s)(?:\.[A-Za-z_]\w*)+" % "|".join(sorted(map(re.escape, pkgs)))) if pkgs else None
    texts: list[tuple[Path, int, str]] = []
    for pkg in shipped_packages(root):
        for path in walk_files(root / pkg, ".py"):
            texts += [(path, line, text) for line, text in python_texts(path)]
    for path in walk_files(root, ".md"):
        texts += [(path, n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]

    found: list[Reference] = []
    for path, first_line, text in texts:
        rel = path.relative_to(root).as_posix()
        for offset, line in enumerate(text.splitlines()):
            where = first_line + offset
            for raw in _TOKEN.findall(line):
                if PLACEHOLDER.search(raw):
                    continue
                token = raw.split("::")[0].rstrip(_TRAILING)
                if dotted is not None:
                    for match in dotted.finditer(token):
                        name = match.group(0)
                        if name.rsplit(".", 1)[-1] not in FILE_SUFFIXES:
                            found.append(Reference(rel, where, "module", name))
                candidate = token.split(":")[0].rstrip(_TRAILING)  # path:line, path:function
                if "/" not in candidate or not _PATH.fullmatch(candidate):
                    continue
                head, last = candidate.split("/", 1)[0], candidate.rstrip("/").rsplit("/", 1)[-1]
                if head in dirs or ("." in last and last.rsplit(".", 1)[-1] in suffixes):
                    found.append(Reference(rel, where, "path", candidate))
    return found


def resolve_dotted(name: str) -> str | None:
    """None when ``name`` is a module or an attribute of one; else why not."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue  # this prefix is not a module: try a shorter one
            raise  # the module exists but an import inside it failed
        for depth, attr in enumerate(parts[cut:], cut + 1):
            if not hasattr(obj, attr):
                what = "module or attribute" if hasattr(obj, "__path__") else "attribute"  # a package
                return f"{'.'.join(parts[:depth - 1])} has no {what} {attr!r}"
            obj = getattr(obj, attr)
        return None
    return f"no module {parts[0]!r}"


def broken(root: Path) -> list[str]:
    problems = []
    for ref in references(root):
        if ref.kind == "module":
            why = resolve_dotted(ref.target)
        else:
            why = None if (root / ref.target).exists() else "no such file or folder"
        if why:
            problems.append(f"{ref}: {why}")
    return problems


def test_every_referenced_module_and_file_exists():
    refs = references(ROOT)
    # The scan sees the tree: both kinds of references, from docstrings, comments and Markdown.
    assert {r.kind for r in refs} == {"module", "path"}
    assert any(r.file.endswith(".py") for r in refs) and any(r.file.endswith(".md") for r in refs)
    assert broken(ROOT) == []


# --- the scanner itself, on a planted tree ---------------------------------------------------


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "fakepkg_docs").mkdir(parents=True)
    (root / "fakepkg_docs" / "__init__.py").write_text('"""See fakepkg_docs.mod.helper and sql/q/real.sql."""\n')
    (root / "fakepkg_docs" / "mod.py").write_text(
        '"""Module docs: fakepkg_docs.mod.NoSuchThing and docs/gone.md."""\n'
        "\n"
        "# a comment naming fakepkg_docs.missing_module and sql/q/missing.sql\n"
        "def helper():\n"
        '    """Fine: fakepkg_docs.mod.helper, fakepkg_docs.mod, sql/q/real.sql."""\n'
        "\n"
        'CODE = "fakepkg_docs.not_a_reference_in_code"\n'
    )
    (root / "sql" / "q").mkdir(parents=True)
    (root / "sql" / "q" / "real.sql").write_text("select 1\n")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text(
        "# Guide\n"
        "Real: [the query](sql/q/real.sql), `fakepkg_docs.mod.helper`, `sql/q/`, fakepkg_docs.yaml.\n"
        "Placeholders: `sql/<domain>/<name>.sql`, `<home>/outbox/x.json`, `sql/q/*.sql`, `docs/{a,b}.md`, …/x.py.\n"
        "Planted: `fakepkg_docs.mod.nope`, see sql/q/typo.sql, and docs/missing.md).\n"
        "Elsewhere: `/tmp/x/y.py`, https://example.org/docs/nothing.md, p1/p2/p3, and/or.\n"
    )
    (root / "pyproject.toml").write_text('[tool.hatch.build.targets.wheel]\npackages = ["fakepkg_docs"]\n')
    monkeypatch.syspath_prepend(str(root))
    yield root
    import sys

    for name in [n for n in sys.modules if n == "fakepkg_docs" or n.startswith("fakepkg_docs.")]:
        del sys.modules[name]


def test_scanner_reports_each_planted_bad_reference(fake_repo):
    problems = broken(fake_repo)
    assert problems == [
        "fakepkg_docs/mod.py:1: module 'fakepkg_docs.mod.NoSuchThing': fakepkg_docs.mod has no attribute 'NoSuchThing'",
        "fakepkg_docs/mod.py:1: path 'docs/gone.md': no such file or folder",
        "fakepkg_docs/mod.py:3: module 'fakepkg_docs.missing_module': fakepkg_docs has no module or attribute 'missing_module'",
        "fakepkg_docs/mod.py:3: path 'sql/q/missing.sql': no such file or folder",
        "docs/guide.md:4: module 'fakepkg_docs.mod.nope': fakepkg_docs.mod has no attribute 'nope'",
        "docs/guide.md:4: path 'sql/q/typo.sql': no such file or folder",
        "docs/guide.md:4: path 'docs/missing.md': no such file or folder",
    ]


def test_scanner_finds_the_good_references_and_skips_placeholders(fake_repo):
    targets = {(r.file, r.target) for r in references(fake_repo)}
    assert ("docs/guide.md", "sql/q/real.sql") in targets
    assert ("docs/guide.md", "sql/q/") in targets
    assert ("fakepkg_docs/mod.py", "fakepkg_docs.mod.helper") in targets
    assert ("fakepkg_docs/__init__.py", "sql/q/real.sql") in targets
    seen = " ".join(t for _, t in targets)
    for skipped in ("<", "*", "{", "…", "fakepkg_docs.yaml", "not_a_reference_in_code", "/tmp", "nothing.md", "p1/p2"):
        assert skipped not in seen
