"""The client's namespaces: `ib.flows`, `ib.solutions`, `ib.files`, `ib.endpoints`, `ib.jobs`."""
