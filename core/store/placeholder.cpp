// placeholder
namespace smm { [[maybe_unused]] static int placeholder_store; }
