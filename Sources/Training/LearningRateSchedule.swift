// LearningRateSchedule.swift — per-iteration schedule (DESIGN.md §3): linear warm-up from
// `warmupStart` to `base` over the warm-up steps, then cosine from `base` down to `final` at the end.

import Foundation

public struct LearningRateSchedule: Equatable, Sendable {
    public var base: Double, warmupStart: Double, final: Double
    public var warmupSteps: Int, totalSteps: Int

    public init(base: Double, warmupStart: Double, final: Double, warmupSteps: Int, totalSteps: Int) {
        self.base = base
        self.warmupStart = warmupStart
        self.final = final
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The learning rate of (zero-based) global step `step`.
    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return warmupStart + (base - warmupStart) * Double(step) / Double(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        return final + (base - final) * 0.5 * (1 + cos(Double.pi * progress))
    }
}
