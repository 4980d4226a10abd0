"""Model cards: facts gathered from a run's tables, rendered as Hugging Face Markdown and a Model Card Toolkit twin."""
