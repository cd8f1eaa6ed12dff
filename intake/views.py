"""The intake pages: accounts, the questionnaire, API tokens (one blueprint)."""

from . import account_views, report_views, token_views, two_step_views
from .blueprint import bp

__all__ = ["account_views", "bp", "report_views", "token_views", "two_step_views"]
