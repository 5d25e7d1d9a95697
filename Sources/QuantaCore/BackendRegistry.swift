import Synchronization

/// Which backend opens which device kind: factories registered by value, backends opened once per
/// device and reused (a CPU backend owns a thread pool; a GPU backend a context and module cache).
///
/// Passed around explicitly — there is no hidden global. The umbrella module `Quanta` offers
/// `BackendRegistry.standard` with the standard backends registered.
public final class BackendRegistry: Sendable {
  /// Opens a backend for a device of its kind; throws `QuantaError.deviceUnavailable` (with why)
  /// when the hardware, driver or index is missing.
  public typealias Factory = @Sendable (Device) throws -> any ComputeBackend

  private struct State {
    var factories: [DeviceKind: Factory] = [:]
    var open: [Device: any ComputeBackend] = [:]
  }
  // Mutex: registration and opening may come from any task.
  private let state = Mutex(State())

  public init() {}

  /// Registers (or replaces) the factory for `kind`. Backends already opened stay open.
  public func register(_ kind: DeviceKind, factory: @escaping Factory) {
    state.withLock { $0.factories[kind] = factory }
  }

  public var registeredKinds: [DeviceKind] {
    state.withLock { s in DeviceKind.allCases.filter { s.factories[$0] != nil } }
  }

  /// The backend for `device`, opened on first use.
  public func backend(for device: Device) throws -> any ComputeBackend {
    // The factory runs under the lock so a device is never opened twice; factories are short
    // (they probe and create a context) and must not call back into the registry.
    try state.withLock { s throws -> any ComputeBackend in
      if let b = s.open[device] { return b }
      guard let factory = s.factories[device.kind] else {
        throw QuantaError.noBackend(
          device: device, registered: DeviceKind.allCases.filter { s.factories[$0] != nil })
      }
      let b = try factory(device)
      s.open[device] = b
      return b
    }
  }

  /// The backend for a device string ("cpu", "cuda:0", ...).
  public func backend(for device: String) throws -> any ComputeBackend {
    try backend(for: Device(parsing: device))
  }
}
