"""pykubectl: the command-line client of pykube, shaped like kubectl.

One module per verb under ``kubectl.verbs``; ``printers`` turns objects into
kubectl's tables, YAML and JSON; ``manifest`` loads ``-f`` files.
"""
