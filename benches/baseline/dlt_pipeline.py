#!/usr/bin/env python3
"""The dlt baseline of `make bench`: a `rest_api` source tuned as dlt's docs advise.

What a data engineer would build with dlt instead of chathaul, for the same
pull: Bangwo8 sessions with their messages and service summaries, KF5 chats
with their messages. The child endpoints are `parallelized` dependent
resources (each parent record's child fetch runs in dlt's extract thread
pool) and the pool has 16 workers, the tuning dlt's performance guide gives
for I/O-bound sources. The destination is the local filesystem in JSONL
(chathaul writes JSONL too).

    python dlt_pipeline.py VENDOR --workdir DIR [--workers 16]

The configuration comes from the environment, as chathaul reads it:
CHATHAUL_<VENDOR>_<FIELD> (BASE_URL, ACCOUNT/SUBDOMAIN, PASSWORD, EMAIL).
The last line printed is JSON: the rows the pipeline loaded, as
conversations, messages and (Bangwo8) summaries, and its table row counts,
so the benchmark can check that dlt fetched what chathaul fetched.

Pinned in benches/run.sh (dlt 1.31.0), the version whose docs were followed:
`parallelized` on dependent `rest_api` resources, `[extract] workers`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

# Before dlt is imported: no telemetry (nothing outside this machine is
# reachable), and the extract pool's size (dlt's `[extract] workers`).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def env(vendor: str, field: str, default: Optional[str] = None) -> Optional[str]:
    return os.environ.get(f"CHATHAUL_{vendor.upper()}_{field.upper()}", default)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("vendor", choices=["bangwo8", "kf5"])
    p.add_argument("--workdir", required=True, help="pipeline state and the loaded JSONL go here")
    p.add_argument("--workers", type=int, default=16, help="dlt's extract thread pool (default 16)")
    a = p.parse_args()

    os.environ["EXTRACT__WORKERS"] = str(a.workers)
    # Deferred child fetches in flight at once: at least one per worker.
    os.environ["EXTRACT__MAX_PARALLEL_ITEMS"] = str(max(20, a.workers))

    import dlt
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
    from dlt.sources.rest_api import rest_api_resources

    class NextPageSet(PageNumberPaginator):
        """Bangwo8's paging: `page=1, 2, …` while the envelope's `next_page` is set.

        The link itself points at the vendor's public host (a proxy or a
        simulator in front of it would not be followed, and credentials must
        not go elsewhere), so only its presence is read. dlt's own
        `page_number` paginator would need a page total (Bangwo8 gives a
        record count) or an empty page at the end (one more request per
        session's messages)."""

        def __init__(self) -> None:
            super().__init__(base_page=1, page_param="page", total_path=None, stop_after_empty_page=True)

        def update_state(self, response: Any, data: Optional[List[Any]] = None) -> None:
            super().update_state(response, data)
            if not response.json().get("next_page"):
                self._has_next_page = False

    def bangwo8() -> List[Any]:
        base = (env("bangwo8", "base_url") or "https://www.bangwo8.com").rstrip("/")
        config: Dict[str, Any] = {
            "client": {
                "base_url": base + "/api/v1/",
                "auth": {
                    "type": "http_basic",
                    "username": env("bangwo8", "account") or "",
                    "password": env("bangwo8", "password") or "",
                },
            },
            "resource_defaults": {"write_disposition": "replace"},
            "resources": [
                {
                    "name": "histories",
                    "primary_key": "r_id",
                    "endpoint": {
                        "path": "imchat/histories.json",
                        "params": {"per_page": 100},
                        "data_selector": "chats",
                        "paginator": NextPageSet(),
                    },
                },
                {
                    "name": "chatrecords",
                    "parallelized": True,
                    "include_from_parent": ["r_id"],
                    "endpoint": {
                        "path": "imchat/chatrecords/{resources.histories.r_id}.json",
                        "params": {"per_page": 100},
                        "data_selector": "im_chatrecords.contents",
                        "paginator": NextPageSet(),
                    },
                },
                {
                    "name": "servicesummary",
                    "parallelized": True,
                    "include_from_parent": ["r_id"],
                    "endpoint": {
                        "path": "servicesummary/{resources.histories.r_id}.json",
                        "params": {"servicesummary_type": 1},
                        # A session without a filled summary answers a status
                        # code and no `data`: no row.
                        "data_selector": "data.serviceSummary",
                        "paginator": "single_page",
                    },
                },
            ],
        }
        return rest_api_resources(config)

    def kf5() -> List[Any]:
        base = env("kf5", "base_url") or f"https://{env('kf5', 'subdomain')}.kf5.com"
        client = {
            "base_url": base.rstrip("/") + "/",
            "auth": {
                "type": "http_basic",
                "username": env("kf5", "email") or "",
                "password": env("kf5", "password") or "",
            },
        }
        (chats,) = rest_api_resources(
            {
                "client": client,
                "resource_defaults": {"write_disposition": "replace"},
                "resources": [
                    {
                        "name": "chats",
                        "primary_key": "id",
                        "endpoint": {
                            "path": "apiv2/chats.json",
                            "params": {"per_page": 100},
                            "data_selector": "chats",
                            # No total and no link: page on until an empty page.
                            "paginator": {
                                "type": "page_number",
                                "base_page": 1,
                                "page_param": "page",
                                "total_path": None,
                                "stop_after_empty_page": True,
                            },
                        },
                    }
                ],
            }
        )

        # A list item may carry its messages; only the others need the
        # detail endpoint (fetching every chat's detail would double the
        # requests for the half that carry them).
        @dlt.transformer(data_from=chats, name="chats_without_messages", selected=False)
        def chats_without_messages(page: List[Dict[str, Any]]) -> Any:
            yield [c for c in page if c.get("messages") is None]

        details = rest_api_resources(
            {
                "client": client,
                "resource_defaults": {"write_disposition": "replace"},
                "resources": [
                    chats_without_messages,
                    {
                        "name": "chat_details",
                        "parallelized": True,
                        "primary_key": "id",
                        "endpoint": {
                            "path": "apiv2/chats/{resources.chats_without_messages.id}.json",
                            "data_selector": "chat",
                            "paginator": "single_page",
                        },
                    },
                ],
            }
        )
        return [chats, *[r for r in details if r.name == "chat_details"]]

    @dlt.source(name=f"{a.vendor}_history", max_table_nesting=1)
    def history() -> Any:
        return bangwo8() if a.vendor == "bangwo8" else kf5()

    pipeline = dlt.pipeline(
        pipeline_name=f"{a.vendor}_history",
        pipelines_dir=os.path.join(a.workdir, "pipelines"),
        destination=dlt.destinations.filesystem(
            bucket_url="file://" + os.path.abspath(os.path.join(a.workdir, "data"))
        ),
        dataset_name=a.vendor,
    )
    pipeline.run(history(), loader_file_format="jsonl")
    rows: Dict[str, int] = dict(pipeline.last_trace.last_normalize_info.row_counts)
    if a.vendor == "bangwo8":
        figures = {
            "conversations": rows.get("histories", 0),
            "messages": rows.get("chatrecords", 0),
            "summaries": rows.get("servicesummary", 0),
        }
    else:
        figures = {
            "conversations": rows.get("chats", 0),
            "messages": rows.get("chats__messages", 0) + rows.get("chat_details__messages", 0),
            "details": rows.get("chat_details", 0),
        }
    figures["tables"] = rows
    # Where dlt's time went: extract (the requests), normalize, load.
    figures["steps"] = {
        step.step: round((step.finished_at - step.started_at).total_seconds(), 3)
        for step in pipeline.last_trace.steps
        if step.finished_at is not None
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
