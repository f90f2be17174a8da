"""What a request to the HTTP API may carry, and how many are served at once.

A question is cut at :data:`chatbot.config.MAX_QUESTION_CHARS` by the triage anyway; the API
refuses longer ones instead, so that nothing is dropped silently.
"""

from __future__ import annotations

from chatbot.config import MAX_QUESTION_CHARS as MAX_QUESTION_CHARS
from chatbot.library import MAX_UPLOAD_FILES as MAX_UPLOAD_FILES
from chatbot.questionlog import MAX_COMMENT_CHARS as MAX_COMMENT_CHARS

MAX_HISTORY_TURNS = 20
MAX_TURN_CHARS = 4000
MAX_QUERY_CHARS = MAX_QUESTION_CHARS
MAX_K = 50
MAX_FILTER_ARTICLES = 50
MAX_ARTICLE_ID_CHARS = 128
# GET /gaps?since=DAYS: at most about ten years back.
MAX_SINCE_DAYS = 3650
# Request bodies: JSON (room for the longest valid /ask body in UTF-8) and multipart uploads
# (MAX_UPLOAD_FILES files of CHATBOT_MAX_FILE_BYTES, plus this much for the multipart framing).
MAX_JSON_BYTES = 512 * 1024
UPLOAD_OVERHEAD_BYTES = 1024 * 1024
