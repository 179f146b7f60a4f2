# Typed stubs of the Rust extension chathaul._native (crates/chathaul-py).
# Checked against the built module by `python -m mypy.stubtest chathaul._native`.
from typing import Any, Callable, Dict, List, Optional, Tuple, final

__all__ = [
    "__version__",
    "connectors",
    "linked_vendors",
    "error_kinds",
    "connect",
    "Connector",
    "ConversationIterator",
    "IncrementalRun",
    "Simulator",
    "sync",
    "load_config",
    "database_location",
    "schemas",
    "plan",
    "pull_partition",
]

__version__: str

def connectors() -> List[Dict[str, Any]]: ...
def linked_vendors() -> List[str]: ...
def error_kinds() -> List[str]: ...
def connect(vendor: str, config: Optional[Dict[str, str]] = None) -> Connector: ...
def schemas() -> Tuple[Any, Any]: ...
def load_config(path: str) -> Tuple[List[Dict[str, Any]], Optional[str]]: ...
def database_location(db: Optional[str], config: Optional[str] = None) -> str: ...
def sync(
    sources: List[Dict[str, Any]],
    db: Optional[str],
    *,
    config: Optional[str] = None,
    progress: Optional[Callable[[int, int], object]] = None,
    batch_size: int = 100,
    now: Optional[str] = None,
    full_refresh: bool = False,
) -> List[Dict[str, Any]]: ...
def plan(sources: List[Dict[str, Any]], since: str, until: str, every: str) -> List[Dict[str, Any]]: ...
def pull_partition(
    partition: Dict[str, Any], *, batch_rows: int = 4096, seed_rate: Optional[float] = None
) -> Tuple[Any, Any, Dict[str, Any]]: ...
@final
class Connector:
    @property
    def vendor(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def capabilities(self) -> Dict[str, Any]: ...
    def stats(self) -> Dict[str, Any]: ...
    def conversations(
        self,
        *,
        since: Optional[str] = None,
        until: Optional[str] = None,
        by: str = "created",
        agent: Optional[str] = None,
        customer: Optional[str] = None,
        channel: Optional[str] = None,
        messages: bool = True,
        summaries: bool = True,
        limit: Optional[int] = None,
        page_size: Optional[int] = None,
    ) -> ConversationIterator: ...
    def conversation(self, id: str, *, messages: bool = True, summaries: bool = True) -> Dict[str, Any]: ...
    def pull(
        self,
        *,
        since: Optional[str] = None,
        until: Optional[str] = None,
        by: str = "created",
        agent: Optional[str] = None,
        customer: Optional[str] = None,
        channel: Optional[str] = None,
        messages: bool = True,
        summaries: bool = True,
        limit: Optional[int] = None,
        page_size: Optional[int] = None,
        on_bad_record: str = "fail",
        progress: Optional[Callable[[int, int], object]] = None,
        batch_rows: int = 4096,
    ) -> Tuple[Any, Any, Dict[str, Any]]: ...
    def pull_to(
        self,
        path: str,
        *,
        partition_by: Optional[str] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
        by: str = "created",
        agent: Optional[str] = None,
        customer: Optional[str] = None,
        channel: Optional[str] = None,
        messages: bool = True,
        summaries: bool = True,
        limit: Optional[int] = None,
        page_size: Optional[int] = None,
        on_bad_record: str = "fail",
        progress: Optional[Callable[[int, int], object]] = None,
    ) -> Dict[str, Any]: ...
    def incremental(
        self,
        state: Optional[str] = None,
        *,
        since: Optional[str] = None,
        lookback: str = "1d",
        revisit_for: str = "14d",
        full_refresh_every: Optional[str] = None,
        rating_window: Optional[str] = None,
        messages: bool = True,
        summaries: bool = True,
        page_size: Optional[int] = None,
        on_bad_record: str = "skip",
        now: Optional[str] = None,
        batch_size: int = 100,
    ) -> IncrementalRun: ...

@final
class IncrementalRun:
    def __iter__(self) -> IncrementalRun: ...
    def __next__(self) -> Dict[str, Any]: ...
    def next_tables(self) -> Optional[Tuple[Any, Any, List[Dict[str, Any]]]]: ...
    @property
    def state(self) -> Dict[str, Any]: ...
    @property
    def report(self) -> Optional[Dict[str, Any]]: ...
    @property
    def complete(self) -> bool: ...
    def close(self) -> None: ...

@final
class ConversationIterator:
    def __iter__(self) -> ConversationIterator: ...
    def __next__(self) -> Dict[str, Any]: ...
    @property
    def count(self) -> int: ...
    @property
    def message_count(self) -> int: ...
    def close(self) -> None: ...

@final
class Simulator:
    def __new__(
        cls,
        *,
        seed: int = 42,
        conversations: int = 200,
        messages: int = 12,
        start: str = "2024-01-01",
        days: int = 90,
        now: Optional[str] = None,
        accounts: int = 1,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        latency_per_in_flight_ms: float = 0.0,
        rate_limit: Optional[int] = None,
        retry_after: bool = True,
        fault_rate: float = 0.0,
        faults: Optional[List[str]] = None,
        port: int = 0,
    ) -> Simulator: ...
    @property
    def vendors(self) -> List[str]: ...
    @property
    def url(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def conversations(self) -> int: ...
    @property
    def start(self) -> str: ...
    @property
    def days(self) -> int: ...
    @property
    def accounts(self) -> int: ...
    @property
    def now(self) -> str: ...
    def set_now(self, now: str) -> str: ...
    def advance(self, microseconds: int) -> str: ...
    def fail_next(self, n: int, vendor: Optional[str] = None, account: Optional[int] = None) -> None: ...
    def corrupt(self, vendor: str, id: str, field: str, value: str, account: Optional[int] = None) -> None: ...
    @property
    def running(self) -> bool: ...
    def base_url(self, vendor: str, account: int = 0) -> str: ...
    def config(self, vendor: str, account: int = 0) -> Dict[str, str]: ...
    def truth(self, vendor: Optional[str] = None, account: int = 0) -> List[Dict[str, Any]]: ...
    def stats(self) -> Dict[str, Any]: ...
    def close(self) -> None: ...
