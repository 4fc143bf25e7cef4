"""The wire contract between the control plane and the data planes: snapshot and status schemas,
NATS bucket names, snapshot signing and credential sealing. Imports neither plane."""
