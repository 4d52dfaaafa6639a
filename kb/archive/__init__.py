"""Export and import of a whole index as gzip JSON lines: back up, restore, or move an index
(from the embedded store to a Chroma server, say) without embedding anything again.
kb.archive.records is the format; kb.archive.transfer moves it in and out of an index."""

from kb.archive.records import FORMAT, VERSION, ArchiveReader, ArticleEntry, Header, read_lines
from kb.archive.transfer import (
    ArchiveReport,
    export_index,
    import_index,
    import_lines,
    stored_entries,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "ArchiveReader",
    "ArchiveReport",
    "ArticleEntry",
    "Header",
    "export_index",
    "import_index",
    "import_lines",
    "read_lines",
    "stored_entries",
]
