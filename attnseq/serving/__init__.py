"""Decoding: `attnseq generate` and `attnseq evaluate` (`decode`, `inference`), and fast decoding on a CPU:
CTranslate2 export for the Transformer family, dynamic int8 in PyTorch for both.

`ctranslate2` is optional (`pip install attnseq[serve]`) and imported only when a CTranslate2 function runs.
"""

from .ctranslate2 import CTranslate2Model, export_ctranslate2
from .quantization import is_quantized, load_model, quantize

__all__ = ["CTranslate2Model", "export_ctranslate2", "is_quantized", "load_model", "quantize"]
