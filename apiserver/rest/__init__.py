"""The Kubernetes HTTP API of the apiserver (issue 13): the REST face beside the gRPC one,
over the same Registry, WatchCache and filters. server.py is the entry; requestinfo.py reads
a URL, handlers.py and subresources.py serve the verbs, status.py words the errors.
(Not named ``http``: that would shadow the standard library's package.)"""
