import Proxies

extension ServerSettings {
    /// The proxy service's view of the settings.
    public var proxyConfiguration: ProxyServiceConfiguration {
        ProxyServiceConfiguration(
            cacheLimitBytes: cacheLimitBytes, maxConcurrentJobs: maxConcurrentJobs,
            hardwareAcceleration: hardwareAcceleration)
    }
}
