import ArgumentParser
import Media
import Proxies

// Options parsed straight into the product's types: `--quality Draft`, `--hardware-acceleration auto`. A wrong value is
// refused by ArgumentParser with the accepted values listed.

extension ProxyQuality: ExpressibleByArgument {}

extension HardwareAcceleration: ExpressibleByArgument {}
