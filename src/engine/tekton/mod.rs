//! The Tekton engine: runs on a Kubernetes cluster as `tekton.dev/v1` PipelineRuns.
//! So far: the compiler from a planned run to a PipelineRun ([`compile`]).

pub mod compile;
