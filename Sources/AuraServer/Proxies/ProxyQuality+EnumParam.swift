import JSONRPC
import Proxies

/// `quality` in params: exactly "Draft", "Preview" or "High"; anything else is -32602 naming the field and the
/// accepted values (the params decoder applies `EnumParam` although `ProxyQuality`'s `Decodable` is the catalogue's).
extension ProxyQuality: EnumParam {}
