"""The size limit an upload widget shows and enforces, from a feature's own byte limit.

Streamlit's file uploader says "200MB per file" (``server.maxUploadSize``) unless told
otherwise, while each feature here accepts less; ``st.file_uploader(...,
max_upload_size=widget_mb(LIMIT))`` makes the widget say the feature's limit and refuse a
larger file in the browser, before it is sent. The server-side checks stay: they are what
holds for a client that is not this page.
"""

from __future__ import annotations

MB = 2**20  # Streamlit's megabyte (and the one every limit here is written in)


def widget_mb(max_bytes: int) -> int:
    """Whole megabytes for ``max_upload_size``: the largest that does not exceed
    ``max_bytes`` (at least 1, Streamlit's smallest), so the browser never sends a file
    that the server-side check would refuse for its size (below 1 MB the check still does).

    >>> widget_mb(20 * 2**20), widget_mb(20 * 2**20 - 1), widget_mb(2**19)
    (20, 19, 1)
    """
    return max(1, int(max_bytes) // MB)
