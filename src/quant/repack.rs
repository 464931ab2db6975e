//! GPU layout of quantized tensors (see module docs once written).
