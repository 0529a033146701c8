// DarknetFixture.swift — a tiny Darknet network that uses every supported layer type, and random
// weights for it: for the detector's layer tests and the extraction tests.

import Detector
import Tensors

/// Every supported layer type: convolutions with and without batch norm, stride 2, every
/// activation, a residual shortcut, SPP-style max pools and a route joining them, a 2×2 max pool,
/// upsampling, and three heads at strides 8, 16, 32 each after a 1×1 convolution.
public let tinyDarknetConfigText = """
[net]
width=64
height=64
channels=3

[convolutional]        # 0: 8@64
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[convolutional]        # 1: 12@32
batch_normalize=1
filters=12
size=3
stride=2
pad=1
activation=mish

[maxpool]              # 2: 12@16
size=2
stride=2

[convolutional]        # 3: 12@16, for the shortcut
filters=12
size=1
stride=1
activation=relu

[shortcut]             # 4
from=-2
activation=linear

[convolutional]        # 5: 16@8
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=logistic

[maxpool]              # 6: SPP
size=5
stride=1

[route]                # 7
layers=-2

[maxpool]              # 8
size=3
stride=1

[route]                # 9: 32@8
layers=-1,-4

[convolutional]        # 10: 20@4
batch_normalize=1
filters=20
size=3
stride=2
pad=1
activation=leaky

[convolutional]        # 11: 18 = 3·(5+1) channels
filters=18
size=1
stride=1
activation=linear

[yolo]                 # 12: stride 16 (64/4)
mask=3,4,5
anchors=4,5, 8,9, 12,10, 16,20, 24,30, 40,33
classes=1
num=6

[route]                # 13
layers=-4

[convolutional]        # 14: 18@8
filters=18
size=1
stride=1
activation=linear

[yolo]                 # 15: stride 8
mask=0,1,2
anchors=4,5, 8,9, 12,10, 16,20, 24,30, 40,33
classes=1
num=6

[route]                # 16
layers=10

[convolutional]        # 17: 24@2
batch_normalize=1
filters=24
size=3
stride=2
pad=1
activation=leaky

[convolutional]        # 18
filters=18
size=1
stride=1
activation=linear

[yolo]                 # 19: stride 32
mask=3,4,5
anchors=4,5, 8,9, 12,10, 16,20, 24,30, 40,33
classes=1
num=6
scale_x_y=1.1
"""

/// Random weights for `config`, batch-norm statistics away from their defaults.
public func randomDarknetWeights(_ config: DarknetConfig, seed: UInt64, major: Int32 = 0, minor: Int32 = 2) throws -> DarknetWeights {
    var rng = KeyedGenerator(RandomKey(seed: seed))
    func values(_ n: Int, _ scale: Float, offset: Float = 0) -> [Float] { (0 ..< n).map { _ in offset + scale * rng.normal() } }
    let convolutions = try config.convolutionShapes().map { shape in
        let fanIn = Float(shape.channels * shape.size * shape.size)
        return ConvolutionWeights(
            weights: values(shape.filters * shape.channels * shape.size * shape.size, 1 / fanIn.squareRoot()),
            biases: values(shape.filters, 0.1),
            batchNorm: shape.batchNormalize
                ? (values(shape.filters, 0.2, offset: 1), values(shape.filters, 0.1), values(shape.filters, 0.3, offset: 1).map(abs)) : nil)
    }
    return DarknetWeights(major: major, minor: minor, revision: 5, seen: 32_013_312, convolutions: convolutions)
}
