"""The timeline page and label tracks: seeing a session as steps, words, breath and bed over time.

A stage after ``output``: ``model`` turns a compiled Timeline (and, for an export,
the loudness measured from the written file by ``measure``) into typed page data;
``build`` writes it as one self-contained HTML page from ``template.html``;
``labels`` gives Audacity label tracks.  Nothing here renders or encodes audio, and
nothing earlier in the pipeline imports this package.
"""

from __future__ import annotations

from legsup_audio.output.page.build import export_page, page_html, page_path, write_labels, write_page
from legsup_audio.output.page.labels import labels_text
from legsup_audio.output.page.model import Envelope, PageData, page_data

__all__ = ["Envelope", "PageData", "export_page", "labels_text", "page_data", "page_html", "page_path",
           "write_labels", "write_page"]
