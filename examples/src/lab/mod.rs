//! The HPVS secure build lab, step by step, as a library: the `lab` binary walks the steps in
//! order, and the tests walk the same steps and look at each outcome through the appliance API.

pub mod base_image;
