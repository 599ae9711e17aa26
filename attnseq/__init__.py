"""attnseq: attention LSTM and small Transformer sequence-to-sequence models for Hugging Face transformers.

Importing the package registers both model families with `AutoConfig`, `AutoModel`,
`AutoModelForSeq2SeqLM` and `AutoTokenizer`.
"""

__version__ = "0.1.0"
