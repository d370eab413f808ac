"""Language profiles: every language-specific rule the product applies, behind one object per language."""

from articlechat.language.profile import LanguageProfile, Token, profile_for, supported_languages

__all__ = ["LanguageProfile", "Token", "profile_for", "supported_languages"]
