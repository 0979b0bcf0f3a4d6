//! The model specs of the tests, built from the numbers that differ between them: [`cnn`]
//! (ReLU blocks, max pooling, no batch norm or dropout), [`transformer`] and [`rnn`], all with
//! PyTorch's default initialisation. A test that needs another setting changes the field
//! (`CnnSpec { batch_norm: true, ..cnn(…) }`).

use probe_train::model::{
    Activation, CellKind, CnnSpec, ConvSpec, Init, PoolType, Pooling, RnnSpec, Tokens,
    TransformerSpec,
};

/// Input images `(C, H, W)`.
pub type Image = (usize, usize, usize);

/// A convolution block: `channels` maps of a `kernel`×`kernel` kernel at `stride` with `padding`,
/// then pooling windows of `pool` (1: none).
pub fn conv(
    channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    pool: usize,
) -> ConvSpec {
    ConvSpec {
        channels,
        kernel,
        stride,
        padding,
        pool,
    }
}

/// A CNN of the blocks `convs` (ReLU, max pooling, no batch norm) on `image`, hidden fully
/// connected widths `fc` (no dropout) and `classes` outputs.
pub fn cnn(image: Image, convs: Vec<ConvSpec>, fc: Vec<usize>, classes: usize) -> CnnSpec {
    CnnSpec {
        image,
        convs,
        pool_type: PoolType::Max,
        fc,
        classes,
        activation: Activation::Relu,
        batch_norm: false,
        dropout: 0.0,
        init: Init::Default,
    }
}

/// A transformer on `image` tokenised by `tokens`, of the widths `[d_model, heads, layers,
/// d_mlp]`, read out by `pooling` into `classes` outputs.
pub fn transformer(
    image: Image,
    tokens: Tokens,
    [d_model, heads, layers, d_mlp]: [usize; 4],
    pooling: Pooling,
    classes: usize,
) -> TransformerSpec {
    TransformerSpec {
        image,
        tokens,
        d_model,
        heads,
        layers,
        d_mlp,
        pooling,
        classes,
        init: Init::Default,
    }
}

/// An RNN of `layers` layers of `cell`s with `hidden` units on the rows of `image`, and
/// `classes` outputs.
pub fn rnn(image: Image, cell: CellKind, hidden: usize, layers: usize, classes: usize) -> RnnSpec {
    RnnSpec {
        image,
        cell,
        hidden,
        layers,
        classes,
    }
}
