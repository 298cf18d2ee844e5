//! TF2 object-based checkpoints (spec section 7): names from `_CHECKPOINTABLE_OBJECT_GRAPH`.
