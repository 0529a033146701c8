// FeatureExtraction.swift — `refclip extract`: every annotated image through the frozen detector at
// every stored input size, into a feature store (DESIGN.md §5). Embarrassingly parallel: rank r
// handles shards r, r + size, …. A first pass decodes every image (sharded the same way) to learn
// its size and to set aside missing or undecodable files, which are reported by path and counted,
// never fatal; the store then holds the others and lists the set-aside ids. Finished shards are kept,
// so an interrupted extraction resumes where it stopped.

import Datasets
import Distributed
import Formats
import Foundation
import Tensors

/// What to extract, resolved from the command's config.
public struct ExtractionSettings: Sendable {
    public var detector: DetectorSource
    public var normalization: InputNormalization
    public var annotations: String
    public var imageRoot: String
    public var naming: ImageNaming
    public var output: String
    public var views: [Int]
    public var dtype: FeatureDType
    public var imagesPerShard: Int

    public init(detector: DetectorSource, normalization: InputNormalization, annotations: String,
                imageRoot: String, naming: ImageNaming, output: String, views: [Int], dtype: FeatureDType, imagesPerShard: Int) {
        self.detector = detector
        self.normalization = normalization
        self.annotations = annotations
        self.imageRoot = imageRoot
        self.naming = naming
        self.output = output
        self.views = views
        self.dtype = dtype
        self.imagesPerShard = imagesPerShard
    }

    /// The file of image `id`.
    public func imagePath(_ id: Int) -> String { (imageRoot as NSString).appendingPathComponent(naming.fileName(id)) }
}

/// What an extraction did.
public struct ExtractionSummary: Sendable {
    public var images: Int
    /// Ids of images that were missing or could not be decoded.
    public var unavailable: [Int]
    public var shardsWritten: Int, shardsKept: Int
}

/// Extracts the features of every image the annotations name. Every rank calls this.
public func extractFeatures(_ settings: ExtractionSettings, communicator comm: Communicator,
                            progress: (String) -> Void) throws -> ExtractionSummary {
    for view in settings.views where view % 32 != 0 || view < 64 {
        throw InputError(location: "output.views", "input size \(view) is not a multiple of 32 of at least 64")
    }
    guard settings.imagesPerShard > 0 else { throw InputError(location: "output.images_per_shard", "must be positive") }
    let annotations = try Annotations.decode(Data(try comm.fromRoot { [UInt8](try Annotations.bytes(settings.annotations)) }), source: settings.annotations)
    let ids = Array(Set(annotations.splits.values.flatMap { $0.map(\.iid) })).sorted()
    guard !ids.isEmpty else { throw InputError(file: settings.annotations, "names no images") }
    let network = try settings.detector.open()
    let producer = try comm.broadcast(value: comm.isRoot ? try producerRecord(settings) : nil)

    // Pass 1: sizes. Each rank decodes the images of its shards; a size of 0 marks a failure.
    let shardCount = (ids.count + settings.imagesPerShard - 1) / settings.imagesPerShard
    var sizes = [Int](repeating: 0, count: 2 * ids.count)
    for shard in stride(from: comm.rank, to: shardCount, by: comm.size) {
        for i in shard * settings.imagesPerShard ..< min(ids.count, (shard + 1) * settings.imagesPerShard) {
            do {
                let image = try RGBImage(contentsOf: settings.imagePath(ids[i]))
                (sizes[2 * i], sizes[2 * i + 1]) = (image.width, image.height)
            } catch {
                FileHandle.standardError.write(Data("refclip extract: skipping image \(ids[i]): \(error)\n".utf8))
            }
        }
    }
    comm.allReduce(&sizes)
    var images: [ImageInfo] = [], unavailable: [Int] = []
    for (i, id) in ids.enumerated() {
        if sizes[2 * i] > 0 { images.append(ImageInfo(id: id, width: sizes[2 * i], height: sizes[2 * i + 1])) } else { unavailable.append(id) }
    }
    if comm.isRoot {
        progress("\(ids.count) images named by the annotations; \(unavailable.count) missing or undecodable\(unavailable.isEmpty ? "" : " (listed above; their expressions are skipped in training)")")
    }
    guard !images.isEmpty else { throw InputError(file: settings.imageRoot, "none of the annotated images could be read", hint: "check data.images and data.image_names") }

    // Pass 2: features, shard by shard.
    var manifest = FeatureManifest(dtype: settings.dtype, layout: network.layout, views: settings.views, imagesPerShard: settings.imagesPerShard,
                                   producer: producer, images: images)
    manifest.unavailableImages = unavailable
    let writer = try FeatureStoreWriter(directory: settings.output, manifest: manifest)
    let input = Tensor()
    var decoded: (index: Int, image: RGBImage)?
    var written = 0, kept = 0, done = 0
    let start = Date()
    let mine = Array(stride(from: comm.rank, to: manifest.shardCount, by: comm.size))
    for (n, shard) in mine.enumerated() {
        let wrote = try writer.writeShard(shard) { index, view in
            if decoded?.index != index { decoded = (index, try RGBImage(contentsOf: settings.imagePath(images[index].id))) }
            let image = decoded!.image
            let size = settings.views[view]
            letterboxInput(image, Letterbox(originalWidth: image.width, originalHeight: image.height, size: size),
                           normalization: settings.normalization, into: input)
            network.forward(input)
            return network.record(inputSize: size)
        }
        if wrote { written += 1 } else { kept += 1 }
        let count = min(images.count, (shard + 1) * settings.imagesPerShard) - shard * settings.imagesPerShard
        if wrote { done += count }
        guard comm.isRoot else { continue }
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(done * comm.size) / max(elapsed, 1e-9)
        let remaining = Double((mine.count - n - 1) * settings.imagesPerShard * comm.size)
        progress(String(format: "shard %d/%d%@  %.2f images/s  ETA %@", shard + 1, manifest.shardCount, wrote ? "" : " (already complete)",
                        rate, done > 0 ? formatDuration(remaining / rate) : "–"))
    }
    comm.barrier()
    if comm.isRoot { try writer.finish() }
    comm.barrier()
    return ExtractionSummary(images: images.count, unavailable: unavailable, shardsWritten: comm.allReduce(written), shardsKept: comm.allReduce(kept))
}

/// The detector files, their hashes and the preprocessing, recorded in the manifest.
private func producerRecord(_ settings: ExtractionSettings) throws -> FeatureProvenance {
    .extraction(ExtractionRecord(
        detector: try settings.detector.recorded(), normalization: "\(settings.normalization)",
        preprocessing: "RGB, letterbox (bilinear, half-pixel centres, truncated sizes, centred, fill \(Int(letterboxFill)))",
        annotations: settings.annotations, images: settings.imageRoot, imageNames: settings.naming.pattern))
}
