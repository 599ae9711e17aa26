"""The one data layer every app reads: built-in tasks (`tasks`), readers of files, parallel files, data sets and
streams (`readers`), what a split is made of (`loading`), tokenized pairs and the collator (`encoding`), the
packaged evaluate metrics (`metrics`) and the run record a checkpoint folder keeps (`run_record`).

It builds on the models' floors (configuration, modeling, tokenization, families) and on nothing above them:
`attnseq.training`, `attnseq.serving` and `attnseq.hub_cards` read their data here.
"""
