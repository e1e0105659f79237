"""The Streamlit app's shared page helpers (the engine is celeb/)."""
