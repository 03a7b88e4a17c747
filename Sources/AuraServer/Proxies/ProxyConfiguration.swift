import Proxies

extension ServerSettings {
    /// The proxy service's view of the settings.
    var proxyConfiguration: ProxyServiceConfiguration {
        ProxyServiceConfiguration(cacheLimitBytes: cacheLimitBytes, maxConcurrentJobs: maxConcurrentJobs,
                                  hardwareAcceleration: HardwareAcceleration(rawValue: hardwareAcceleration) ?? .off)
    }
}
