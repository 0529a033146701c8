// FeatureStore.swift — what the frozen detector gives for every image, stored once and read by every
// run (format in docs/FORMATS.md):
//   DIR/manifest.json          layout, dtype, input-size views, provenance, images, record index
//   DIR/shard-NNNNN.bin        zstd frames, one per (image, view), images [N·k, N·(k+1))
//   DIR/shard-NNNNN.index.json the shard's record offsets (merged into the manifest at the end)
// A record holds the three maps and the stride-32 anchor boxes as one checksummed zstd frame
// (Formats/FeatureRecordCodec.swift): one read and one decompression per image and view. Shards
// depend only on the image index, so any number of ranks writes the same bytes.

import Distributed
import Formats
import Foundation
import Tensors

/// The shape of what the detector gives per image at one input size.
public struct FeatureLayout: Codable, Equatable, Sendable {
    /// Channels of the stride-8, 16 and 32 maps.
    public var channels: [Int]
    public var anchorsPerCell: Int

    public init(channels: [Int], anchorsPerCell: Int) {
        self.channels = channels
        self.anchorsPerCell = anchorsPerCell
    }

    public static let strides = [8, 16, 32]

    /// Grid sizes of the three maps at input size `view`.
    public func grids(view: Int) -> [Int] { Self.strides.map { view / $0 } }

    /// Float counts of the three maps and of the anchor boxes at input size `view`.
    public func counts(view: Int) -> (maps: [Int], boxes: Int) {
        let g = grids(view: view)
        return (zip(channels, g).map { $0 * $1 * $1 }, g[2] * g[2] * anchorsPerCell * 5)
    }

    /// The codec of this layout's records at input size `view`, maps stored as `dtype`.
    public func codec(view: Int, dtype: FeatureDType) -> FeatureRecordCodec {
        let counts = counts(view: view)
        return FeatureRecordCodec(dtype: dtype, mapCounts: counts.maps, boxCount: counts.boxes)
    }
}

/// An image's original size and id.
public struct ImageInfo: Codable, Equatable, Sendable {
    public var id: Int, width: Int, height: Int

    public init(id: Int, width: Int, height: Int) {
        self.id = id
        self.width = width
        self.height = height
    }
}

/// The detector outputs of one image at one input size, as flat Float arrays.
public struct FeatureRecord: Equatable, Sendable {
    /// [C, g, g] for strides 8, 16, 32.
    public var maps: [[Float]]
    /// [g·g, anchorsPerCell, 5]: (cx, cy, w, h, objectness) in letterbox pixels on the stride-32 grid.
    public var boxes: [Float]

    public init(maps: [[Float]], boxes: [Float]) {
        self.maps = maps
        self.boxes = boxes
    }
}

/// Where a record lies: [image, view, shard, offset, length].
typealias RecordLocation = [Int]

/// The store's description, `manifest.json`.
public struct FeatureManifest: Codable, Equatable, Sendable {
    public var format = "refclip-features"
    public var version = 1
    public var dtype: FeatureDType
    public var layout: FeatureLayout
    /// Input sizes stored for every image.
    public var views: [Int]
    public var imagesPerShard: Int
    /// What produced the features (detector files and their hashes, or the synthetic generator's seeds).
    public var producer: FeatureProvenance
    public var images: [ImageInfo]
    /// Ids of images the producer could not read (missing or undecodable files); their entries are skipped.
    public var unavailableImages: [Int]?
    var records: [RecordLocation] = []

    public init(dtype: FeatureDType, layout: FeatureLayout, views: [Int], imagesPerShard: Int, producer: FeatureProvenance,
                images: [ImageInfo]) {
        self.dtype = dtype
        self.layout = layout
        self.views = views
        self.imagesPerShard = imagesPerShard
        self.producer = producer
        self.images = images
    }

    public var shardCount: Int { (images.count + imagesPerShard - 1) / imagesPerShard }

    static func shardName(_ k: Int) -> String { String(format: "shard-%05d.bin", k) }
    static func indexName(_ k: Int) -> String { String(format: "shard-%05d.index.json", k) }
}

/// Writes a feature store shard by shard; shards already complete on disk are kept (resumable).
public struct FeatureStoreWriter {
    public let directory: String
    public let manifest: FeatureManifest
    public var compressionLevel: Int32 = 3

    /// Prepares `directory`. Its `plan.json` records the manifest the shards are written for: a
    /// directory that holds shards of a different plan (other images, sizes, detector) is refused
    /// rather than mixed.
    public init(directory: String, manifest: FeatureManifest) throws {
        self.directory = directory
        self.manifest = manifest
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw InputError(file: directory, "cannot create the feature-store directory: \(error.localizedDescription)")
        }
        let planPath = directory + "/plan.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let plan = [UInt8](try encoder.encode(manifest))
        if let existing = FileManager.default.contents(atPath: planPath) {
            guard let previous = try? JSONDecoder().decode(FeatureManifest.self, from: existing), previous == manifest else {
                throw InputError(file: planPath, "the directory holds shards of a different extraction (other images, sizes, dtype or producer)",
                                 hint: "delete \(directory) or write to another directory")
            }
        } else {
            try writeFileAtomically(planPath, bytes: plan)
        }
    }

    /// Whether shard `k` is complete on disk (its index is written last, after the data).
    public func isComplete(shard k: Int) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/" + FeatureManifest.indexName(k))
    }

    /// Writes shard `k` from `record(imageIndex, viewIndex)`, unless it is already complete.
    /// Returns false when the shard was skipped.
    @discardableResult
    public func writeShard(_ k: Int, record: (Int, Int) throws -> FeatureRecord) throws -> Bool {
        if isComplete(shard: k) { return false }
        let first = k * manifest.imagesPerShard, last = min(manifest.images.count, first + manifest.imagesPerShard)
        var locations: [RecordLocation] = []
        var offset = 0
        let path = directory + "/" + FeatureManifest.shardName(k)
        try writeFileAtomically(path) { handle in
            for image in first ..< last {
                for view in manifest.views.indices {
                    let frame = encode(try record(image, view), view: manifest.views[view])
                    try handle.write(contentsOf: frame)
                    locations.append([image, view, k, offset, frame.count])
                    offset += frame.count
                }
            }
        }
        let index = try JSONEncoder().encode(locations)
        try writeFileAtomically(directory + "/" + FeatureManifest.indexName(k), bytes: [UInt8](index))
        return true
    }

    /// Merges the shard indexes into `manifest.json`; every shard must be complete.
    public func finish() throws {
        var complete = manifest
        for k in 0 ..< manifest.shardCount {
            let path = directory + "/" + FeatureManifest.indexName(k)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw InputError(file: path, "shard \(k) is not complete", hint: "run the command again to finish it")
            }
            complete.records += try JSONDecoder().decode([RecordLocation].self, from: data)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeFileAtomically(directory + "/manifest.json", bytes: [UInt8](try encoder.encode(complete)))
    }

    /// One compressed record (FeatureRecordCodec) at input size `view`.
    func encode(_ record: FeatureRecord, view: Int) -> [UInt8] {
        manifest.layout.codec(view: view, dtype: manifest.dtype).encode(maps: record.maps, boxes: record.boxes, level: compressionLevel)
    }
}

/// Random access to a feature store's records.
public final class FeatureStore: @unchecked Sendable {
    public let directory: String
    public let manifest: FeatureManifest
    private var locations: [Int: [Int]] = [:]  // image·views + view → location
    private var imageIndex: [Int: Int] = [:]
    private var shards: [Int: (descriptor: Int32, size: Int)] = [:]
    /// The record codec of each stored view, in `manifest.views` order.
    private var codecs: [FeatureRecordCodec] = []
    private let lock = NSLock()

    /// Opens `directory`, validating the manifest.
    public convenience init(directory: String) throws {
        try self.init(directory: directory, manifestBytes: try Self.manifestBytes(directory))
    }

    /// Opens `directory` on every rank from one read of the manifest: rank 0 reads it, the others
    /// receive its bytes (so a job does not read the file once per rank).
    public static func shared(directory: String, communicator comm: Communicator) throws -> FeatureStore {
        try FeatureStore(directory: directory, manifestBytes: Data(comm.fromRoot { [UInt8](try manifestBytes(directory)) }))
    }

    private static func manifestBytes(_ directory: String) throws -> Data {
        let path = directory + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, "no feature-store manifest", hint: "create the store with `refclip synth` or `refclip extract` (data.features)")
        }
        return data
    }

    private init(directory: String, manifestBytes data: Data) throws {
        self.directory = directory
        let path = directory + "/manifest.json"
        do {
            manifest = try JSONDecoder().decode(FeatureManifest.self, from: data)
        } catch {
            throw InputError(file: path, "not a valid feature-store manifest: \(error)")
        }
        guard manifest.format == "refclip-features", manifest.version == 1 else {
            throw InputError(file: path, "format \(manifest.format) version \(manifest.version) is not supported (expected refclip-features 1)")
        }
        let layout = manifest.layout, limit = Self.dimensionLimit
        guard layout.channels.count == 3, layout.channels.allSatisfy({ (1 ... limit).contains($0) }), (1 ... limit).contains(layout.anchorsPerCell),
              !manifest.views.isEmpty, manifest.views.allSatisfy({ (32 ... limit).contains($0) && $0 % 32 == 0 }), manifest.imagesPerShard > 0 else {
            throw InputError(file: path, "layout \(layout.channels)×\(layout.anchorsPerCell) anchors, views \(manifest.views), \(manifest.imagesPerShard) images per shard: not a store refclip writes",
                             hint: "three maps of 1–\(limit) channels, views positive multiples of 32 up to \(limit)")
        }
        codecs = manifest.views.map { layout.codec(view: $0, dtype: manifest.dtype) }
        for (i, image) in manifest.images.enumerated() { imageIndex[image.id] = i }
        for location in manifest.records {
            guard location.count == 5, (0 ..< manifest.images.count).contains(location[0]), manifest.views.indices.contains(location[1]),
                  (0 ..< manifest.shardCount).contains(location[2]), location[3] >= 0, location[4] > 0,
                  payloadBytes(view: location[1]) <= CheckedSize.product([location[4], Self.expansionLimit]) ?? Int.max else {
                throw InputError(file: path, "malformed record entry \(location)")
            }
            locations[location[0] * manifest.views.count + location[1]] = location
        }
        let expected = manifest.images.count * manifest.views.count
        guard locations.count == expected else {
            throw InputError(file: path, "indexes \(locations.count) records, expected \(expected) (images × views)",
                             hint: "the store is incomplete; run the command that made it again")
        }
    }

    deinit { for shard in shards.values { close(shard.descriptor) } }

    /// The largest channel count and input size a manifest may give (a bound that keeps every record
    /// size far from overflow).
    static let dimensionLimit = 1 << 14
    /// The most a record may expand from its compressed frame (half-precision maps gain 1.1–3× under
    /// zstd); a manifest asks for no more memory than its shards' sizes allow.
    static let expansionLimit = 4096

    /// Bytes of one decompressed record at view position `view`.
    private func payloadBytes(view: Int) -> Int { codecs[view].payloadBytes }

    /// The store index of image `id`, if stored.
    public func index(ofImage id: Int) -> Int? { imageIndex[id] }

    /// The position of input size `view` among the stored views.
    public func viewIndex(_ view: Int) throws -> Int {
        guard let i = manifest.views.firstIndex(of: view) else {
            throw InputError(file: directory + "/manifest.json", "input size \(view) is not stored (stored: \(manifest.views))",
                             hint: "choose a stored size, or extract this one")
        }
        return i
    }

    /// Reads one record; `view` is a position in `manifest.views` (see `viewIndex(_:)`). Thread-safe.
    public func read(image: Int, view: Int) throws -> FeatureRecord {
        _ = try frame(image: image, view: view)
        let counts = manifest.layout.counts(view: manifest.views[view])
        let ends = counts.maps.reduce(into: [0]) { $0.append($0.last! + $1) }
        var flat = [Float](repeating: 0, count: ends.last! + counts.boxes)
        var scratch = ReadScratch()
        try flat.withUnsafeMutableBufferPointer { f in
            try read(image: image, view: view, maps: ends.dropLast().map { f.baseAddress! + $0 }, boxes: f.baseAddress! + ends.last!, scratch: &scratch)
        }
        return FeatureRecord(maps: (0 ..< 3).map { Array(flat[ends[$0] ..< ends[$0 + 1]]) }, boxes: Array(flat[ends.last!...]))
    }

    /// Buffers one reader reuses from record to record (no allocation per read).
    public struct ReadScratch {
        var frame: [UInt8] = []
        var record = FeatureRecordCodec.Scratch()
        public init() {}
    }

    /// Reads one record straight into `maps` (three destinations of the layout's sizes) and `boxes`.
    /// Thread-safe as long as each thread has its own scratch.
    public func read(image: Int, view: Int, maps: [UnsafeMutablePointer<Float>], boxes: UnsafeMutablePointer<Float>,
                     scratch: inout ReadScratch) throws {
        let (path, fd, offset, length) = try frame(image: image, view: view)
        if scratch.frame.count < length { scratch.frame = [UInt8](repeating: 0, count: length) }
        let got = scratch.frame.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(offset)) }
        guard got == length else {
            throw InputError(file: path, location: "image \(manifest.images[image].id)", "short read (\(got) of \(length) bytes)",
                             hint: "the shard is truncated; re-create the store")
        }
        do {
            try scratch.frame.withUnsafeBytes {
                try codecs[view].decode(UnsafeRawBufferPointer(rebasing: $0[0 ..< length]), maps: maps, boxes: boxes, scratch: &scratch.record)
            }
        } catch {
            throw InputError(file: path, location: "image \(manifest.images[image].id)", "damaged record: \(error)",
                             hint: "the shard is corrupt; re-create the store")
        }
    }

    /// Where a record's frame lies — its shard's path and descriptor, offset and length — checked to lie
    /// inside the shard file before anything is allocated for it.
    private func frame(image: Int, view: Int) throws -> (path: String, descriptor: Int32, offset: Int, length: Int) {
        guard let location = locations[image * manifest.views.count + view] else {
            throw InputError(file: directory, "no record for image index \(image), view \(view)")
        }
        let (shard, offset, length) = (location[2], location[3], location[4])
        let path = directory + "/" + FeatureManifest.shardName(shard)
        let file = try open(shard: shard, path)
        guard CheckedSize.fits(offset: offset, count: length, in: file.size) else {
            throw InputError(file: path, location: "image \(manifest.images[image].id)", "the record's \(length) bytes at \(offset) lie outside the \(file.size)-byte shard",
                             hint: "the shard is truncated or the manifest damaged; re-create the store")
        }
        return (path, file.descriptor, offset, length)
    }

    private func open(shard: Int, _ path: String) throws -> (descriptor: Int32, size: Int) {
        try lock.withLock {
            if let file = shards[shard] { return file }
            let fd = Foundation.open(path, O_RDONLY)
            guard fd >= 0 else {
                throw InputError(file: path, "cannot open the shard: \(String(cString: strerror(errno)))", hint: "the store is incomplete")
            }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                close(fd)
                throw InputError(file: path, "cannot stat the shard: \(String(cString: strerror(errno)))")
            }
            shards[shard] = (fd, Int(info.st_size))
            return (fd, Int(info.st_size))
        }
    }
}
