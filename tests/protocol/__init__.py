"""The registry protocol (OCI Distribution Spec v1.1) driven over plain HTTP against a live server.

`test_conformance_*` port the four workflow categories of the OCI conformance suite
(opencontainers/distribution-spec `conformance/`), check for check and in the suite's order;
`test_negative` is one table of the protocol's failure paths.
"""
