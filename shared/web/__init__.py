"""The people's pages' one look (issue 19): layout, stylesheet, words, charts.

Every service that serves pages (the aggregator's board, later the notifier's alerts and intake's
reporting form) renders through `render_page` with `page_environment([its templates])`, includes
`stylesheet_router()` and words its texts from `shared.web.i18n`; statuses come from shared.labels.
"""

from shared.web.charts import ProgressPoint, ProgressSeries, progress_chart
from shared.web.i18n import LANG_COOKIE, MESSAGES, choose_lang, number, translator
from shared.web.rendering import (
    STYLESHEET_URL,
    page_environment,
    render_page,
    request_lang,
    stylesheet_router,
)

__all__ = [
    "LANG_COOKIE",
    "MESSAGES",
    "STYLESHEET_URL",
    "ProgressPoint",
    "ProgressSeries",
    "choose_lang",
    "number",
    "page_environment",
    "progress_chart",
    "render_page",
    "request_lang",
    "stylesheet_router",
    "translator",
]
