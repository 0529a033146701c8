// DetectorBenchmark.swift — the forward pass of the two detectors at 416 with random weights: a
// Darknet YOLOv3 (Darknet-53 backbone, three heads, 80 classes) and the RefCLIP/SimREC YOLOv3 (SPP,
// guided-anchoring heads with deformable convolutions): images/s, GFLOP/s, the ratio to sgemm, and for
// the latter the share of time in the deformable convolutions, on 1 and 2 BLAS threads.

import Detector
import Distributed
import Formats
import Foundation
import Tensors

/// The layer sections of YOLOv3 (Darknet-53 and its three heads), built rather than copied: residual
/// stages of 1, 2, 8, 8, 4 blocks, then heads at strides 32, 16, 8 joined by upsampling routes.
func yolov3ConfigText(size: Int = 416, classes: Int = 80) -> String {
    var sections: [String] = ["[net]\nwidth=\(size)\nheight=\(size)\nchannels=3"]
    func conv(_ filters: Int, _ kernel: Int, stride: Int = 1, linear: Bool = false) {
        sections.append(linear
            ? "[convolutional]\nfilters=\(filters)\nsize=\(kernel)\nstride=\(stride)\npad=1\nactivation=linear"
            : "[convolutional]\nbatch_normalize=1\nfilters=\(filters)\nsize=\(kernel)\nstride=\(stride)\npad=1\nactivation=leaky")
    }
    let anchors = "10,13, 16,30, 33,23, 30,61, 62,45, 59,119, 116,90, 156,198, 373,326"
    conv(32, 3)
    var stageOutputs: [Int] = []
    for (filters, blocks) in [(64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)] {
        conv(filters, 3, stride: 2)
        for _ in 0 ..< blocks {
            conv(filters / 2, 1)
            conv(filters, 3)
            sections.append("[shortcut]\nfrom=-3\nactivation=linear")
        }
        stageOutputs.append(sections.count - 2)  // layer index (sections[0] is [net])
    }
    // Heads: five alternating 1×1/3×3 convolutions, a 3×3, the 1×1 prediction and [yolo].
    func detectionHead(width: Int, mask: String) {
        conv(width / 2, 1); conv(width, 3); conv(width / 2, 1); conv(width, 3); conv(width / 2, 1)
        conv(width, 3)
        conv(3 * (5 + classes), 1, linear: true)
        sections.append("[yolo]\nmask=\(mask)\nanchors=\(anchors)\nclasses=\(classes)\nnum=9")
    }
    detectionHead(width: 1024, mask: "6,7,8")
    for (width, mask, skip) in [(512, "3,4,5", stageOutputs[3]), (256, "0,1,2", stageOutputs[2])] {
        sections.append("[route]\nlayers=-4")
        conv(width / 2, 1)
        sections.append("[upsample]\nstride=2")
        sections.append("[route]\nlayers=-1, \(skip)")
        detectionHead(width: width, mask: mask)
    }
    return sections.joined(separator: "\n\n") + "\n"
}

func runDetectorBenchmark(_ comm: Communicator) {
    guard comm.isRoot else { return }
    setBLASThreads(1)
    reportHeader("Detector: YOLOv3-416 shape, random weights (1 BLAS thread)")
    do {
        let config = try DarknetConfig(text: yolov3ConfigText(), source: "yolov3 (generated)")
        let key = RandomKey(seed: 4)
        var next = 0
        let weights = DarknetWeights(convolutions: try config.convolutionShapes().map { shape in
            func values(_ n: Int, _ scale: Float) -> [Float] { defer { next += n }; return (0 ..< n).map { scale * key.normal(next + $0) } }
            let n = shape.filters
            return ConvolutionWeights(weights: values(n * shape.channels * shape.size * shape.size, 1 / Float(shape.channels * shape.size * shape.size).squareRoot()),
                                      biases: values(n, 0.1), batchNorm: shape.batchNormalize ? (values(n, 0).map { $0 + 1 }, values(n, 0), values(n, 0).map { $0 + 1 }) : nil)
        })
        let network = try DarknetNetwork(config: config, weights: weights)
        let input = Tensor([1, 3, 416, 416])
        for i in 0 ..< input.count { input.data[i] = key.uniform(i) }
        let sgemm = sgemmGFLOPs()
        let seconds = medianSeconds(repeats: 3) { network.forward(input) }
        let flops = 2 * Double(try network.multiplyAdds(size: 416))
        report("YOLOv3-416 forward, 1 image", String(format: "%.2f images/s (%.0f ms)", 1 / seconds, seconds * 1000),
               String(format: "%.1f GFLOP per image; feature maps %@", flops / 1e9, network.layout.channels.description))
        report("YOLOv3-416 throughput", String(format: "%.1f GFLOP/s", flops / seconds / 1e9),
               String(format: "%.2f × sgemm %.1f GFLOP/s (target ≥ 0.6)", flops / seconds / 1e9 / sgemm, sgemm))
    } catch {
        report("YOLOv3-416 forward", "failed", "\(error)")
    }
}

/// The RefCLIP/SimREC detector at the paper's width with random weights (batch-norm statistics near
/// (0, 1), offsets of a few pixels), at 416 on 1 and 2 BLAS threads.
func runPaperDetectorBenchmark(_ comm: Communicator) {
    guard comm.isRoot else { return }
    reportHeader("Detector: RefCLIP/SimREC YOLOv3 (SPP, guided anchoring, deformable 3×3), 416, random weights")
    do {
        var writer = SafetensorsWriter()
        let key = RandomKey(seed: 5)
        var next = 0
        for (name, shape) in RefCLIPYOLOv3.parameterShapes() {
            let n = shape.reduce(1, *), fanIn = shape.count == 4 ? shape[1...].reduce(1, *) : 1
            var values = (0 ..< n).map { key.normal(next + $0) }
            next += n
            switch name.split(separator: ".").last! {
            case "running_var": values = values.map { 1 + 0.1 * abs($0) }
            case "weight" where name.contains("batch_norm"): values = values.map { 1 + 0.1 * abs($0) }
            case "running_mean", "bias": values = values.map { 0.1 * $0 }
            default: values = values.map { $0 * (name.contains("conv_offset") ? 2 : 1) / Float(fanIn).squareRoot() }
            }
            writer.add(name, shape: shape, floats: values)
        }
        let path = NSTemporaryDirectory() + "refclip-bench-yolov3-\(getpid()).safetensors"
        try writer.write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let network = try RefCLIPYOLOv3(weights: path)
        let input = Tensor([3, 416, 416])
        for i in 0 ..< input.count { input.data[i] = key.uniform(next + i) }
        let (multiplyAdds, deformable) = network.multiplyAdds(size: 416)
        let flops = 2 * Double(multiplyAdds)
        for threads in [1, 2] {
            setBLASThreads(threads)
            let sgemm = sgemmGFLOPs()
            network.forward(input)
            let before = network.deformableSeconds
            let repeats = 3
            let seconds = medianSeconds(repeats: repeats) { network.forward(input) }
            let share = (network.deformableSeconds - before) / Double(repeats) / seconds
            report("paper detector, \(threads) thread\(threads == 1 ? "" : "s")", String(format: "%.2f images/s (%.0f ms)", 1 / seconds, seconds * 1000),
                   String(format: "%.1f GFLOP/s = %.2f × sgemm %.1f; %.1f GFLOP per image, %.1f%% of it and %.1f%% of the time in the deformable convolutions",
                          flops / seconds / 1e9, flops / seconds / 1e9 / sgemm, sgemm, flops / 1e9, 100 * 2 * Double(deformable) / flops, 100 * share))
        }
        setBLASThreads(1)
    } catch {
        report("paper detector forward", "failed", "\(error)")
    }
}
