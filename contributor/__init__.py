"""The contributor role (``salary-submit``): an employee's record, or an HR file's, checked
against the survey's manifest, Shamir-shared, sealed to every node and uploaded.

Modules: :mod:`~contributor.nodes` (manifest, pinned clients, the all-nodes-agree check),
:mod:`~contributor.submission` (one record prepared, and what the nodes said about it),
:mod:`~contributor.pending` (pending files and receipts), :mod:`~contributor.delivery` (the
upload loop), :mod:`~contributor.hrfile` (reading an HR file), :mod:`~contributor.submit` (one
record, a CSV one request per record, resume), :mod:`~contributor.bulk` (a CSV in batches) and
:mod:`~contributor.cli`.  The package imports only :mod:`protocol` (never ``mpyc``,
``mpc_nodes`` or ``analyst``).
"""
