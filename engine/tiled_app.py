"""The Tiled server process: ``python -m operando.engine.tiled_app``.

Same catalog as ``tiled serve catalog`` (SQLite catalog, file + SQLite table
storage, the detector directory readable; or a PostgreSQL database for catalog and tables, from
OPERANDO_TILED_CATALOG), but the API key is read from a
0600 file and never printed, anonymous access is refused, and stored runs can be replayed
as documents (bluesky-tiled-plugins' JSON-seq exporter).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .config import CATALOG_VARIABLE


def catalog_storage(tiled_dir: Path, catalog: str | None) -> tuple[str, str]:
    """(catalog URI, table storage URI): SQLite files in ``tiled_dir``, or one PostgreSQL database
    (``postgresql://user:password@host:port/database``) for both, shared by several servers."""
    if not catalog:
        return f"sqlite:///{tiled_dir / 'catalog.db'}", f"sqlite:///{tiled_dir / 'tables.sqlite'}"
    scheme, sep, rest = catalog.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep or "/" not in rest:
        raise ValueError(f"catalog must be postgresql://user:password@host:port/database (or unset for SQLite), "
                         f"not {scheme + sep + '...'!r}")
    return f"postgresql+asyncpg://{rest}", f"postgresql://{rest}"


def build(tiled_dir: Path, data_dir: Path, api_key: str, catalog: str | None = None):
    import copy

    from bluesky_tiled_plugins.exporters import json_seq_exporter
    from tiled.catalog import from_uri
    from tiled.config import Authentication
    from tiled.media_type_registration import default_serialization_registry
    from tiled.server.app import build_app

    catalog_uri, tables_uri = catalog_storage(tiled_dir, catalog)
    tree = from_uri(catalog_uri, writable_storage=[str(tiled_dir / "files"), tables_uri],
                    readable_storage=[str(data_dir)], init_if_not_exists=True)
    # BlueskyRun.documents() (replaying a stored run through analysis) asks for JSON-seq.
    serializers = copy.deepcopy(default_serialization_registry)
    serializers.register("BlueskyRun", "application/json-seq", json_seq_exporter)
    return build_app(tree, Authentication(single_user_api_key=api_key, allow_anonymous_access=False),
                     serialization_registry=serializers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiled-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--api-key-file", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvicorn

    catalog = os.environ.get(CATALOG_VARIABLE) or None        # not an argument: it may hold a password
    app = build(args.tiled_dir, args.data_dir, args.api_key_file.read_text().strip(), catalog)
    where = "SQLite in " + str(args.tiled_dir) if catalog is None else "PostgreSQL " + catalog.rpartition("@")[2]
    print(f"Tiled serving {where} at http://{args.host}:{args.port} (API key in {args.api_key_file})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
