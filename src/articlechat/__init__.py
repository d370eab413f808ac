"""articlechat: talk to an article. Grounded, cited answers from a local Chroma store."""

__version__ = "0.1.0"
