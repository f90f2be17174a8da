"""``python -m chatbot.evaluation``: cross-validate the rerank fusion weight on the gold set
(:func:`chatbot.evaluation.run.main`)."""

from chatbot.evaluation.run import main

if __name__ == "__main__":
    raise SystemExit(main())
